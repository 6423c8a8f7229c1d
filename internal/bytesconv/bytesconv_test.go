package bytesconv

import "testing"

func TestViewsShareMemory(t *testing.T) {
	for _, s := range []string{"", "a", "/photos/cat.jpg?w=300"} {
		b := []byte(s)
		if got := String(b); got != s {
			t.Errorf("String(%q) = %q", b, got)
		}
		if got := string(Bytes(s)); got != s {
			t.Errorf("Bytes(%q) = %q", s, got)
		}
		if len(b) > 0 {
			v := String(b)
			b[0] = '#'
			if v[0] != '#' {
				t.Errorf("String(%q) copied: the view did not see a write", s)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = String([]byte{}); _ = Bytes("x") }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
