package edge

import (
	"net"
	"testing"
)

// TestClientAddress: X-Forwarded-For is believed only from a trusted proxy,
// and only up to the first address that is not one: what a client writes
// into the header itself lies further left.
func TestClientAddress(t *testing.T) {
	p := newProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	for _, tt := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.9", "", "203.0.113.9"},
		{"203.0.113.9", "198.51.100.1", "203.0.113.9"},          // not a proxy: its header is the client's word
		{"10.1.2.3", "198.51.100.1", "198.51.100.1"},            // the CDN says who asked
		{"10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"},   // 6.6.6.6 was written by the client
		{"10.1.2.3", "198.51.100.1, 192.0.2.7", "198.51.100.1"}, // through two proxies
		{"10.1.2.3", "garbage, 10.9.9.9", "10.1.2.3"},           // nothing untrusted that parses
		{"10.1.2.3", "2001:db8::1", "2001:db8::1"},
	} {
		if got := p.client(net.ParseIP(tt.peer), []byte(tt.xff)); got != tt.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tt.peer, tt.xff, got, tt.want)
		}
	}
	if got := proxies(nil).client(net.ParseIP("10.1.2.3"), []byte("198.51.100.1")); got != "10.1.2.3" {
		t.Errorf("no trusted proxies: %s", got)
	}
}
