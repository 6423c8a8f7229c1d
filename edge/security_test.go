package edge_test

import (
	"strings"
	"testing"

	"imgedge/configs"
	"imgedge/edge/signing"
)

const (
	oldKey = "old-signing-key-0123"
	newKey = "new-signing-key-4567"
)

func signed(t testing.TB, key, uri string) string {
	t.Helper()
	s, err := signing.Sign(key, uri)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignedURLs(t *testing.T) {
	h := start(t, []string{"IMGEDGE_SIGNING_KEYS=" + newKey + "," + oldKey}, nil)
	for _, tt := range []struct {
		name, uri string
		status    int
		code      string
	}{
		{"unsigned", "/kodim23.png?w=100", 403, "signature_invalid"},
		{"unsigned original", "/kodim23.png", 403, "signature_invalid"},
		{"wrong signature", "/kodim23.png?w=100&s=" + strings.Repeat("ab", 32), 403, "signature_invalid"},
		{"signed for another path", strings.Replace(signed(t, newKey, "/kodim07.png?w=100"), "kodim07", "kodim23", 1), 403, "signature_invalid"},
		{"params changed after signing", strings.Replace(signed(t, newKey, "/kodim23.png?w=100"), "w=100", "w=2000", 1), 403, "signature_invalid"},
		{"bad param, bad signature: the signature is checked first", "/kodim23.png?wdth=1", 403, "signature_invalid"},
		{"bad param, good signature", signed(t, newKey, "/kodim23.png?wdth=1"), 400, "bad_param"},
		{"new key", signed(t, newKey, "/kodim23.png?w=100"), 200, ""},
		{"old key during rotation", signed(t, oldKey, "/kodim23.png?w=100"), 200, ""},
		{"original", signed(t, newKey, "/kodim23.png"), 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(t, tt.uri)
			if tt.status == 200 {
				if r.status != 200 {
					t.Fatalf("%s: %d %s", tt.uri, r.status, r.body)
				}
				return
			}
			checkProblem(t, r, tt.status, "user", tt.code, "")
		})
	}
	// Rotation done: a reload without the old key refuses its URLs.
	cfg, err := configs.Load("", []string{"IMGEDGE_ORIGIN=" + h.origin.url, "IMGEDGE_SIGNING_KEYS=" + newKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	checkProblem(t, h.get(t, signed(t, oldKey, "/kodim23.png?w=100")), 403, "user", "signature_invalid", "")
	if r := h.get(t, signed(t, newKey, "/kodim23.png?w=100")); r.status != 200 {
		t.Fatalf("new key after rotation: %d", r.status)
	}
}
