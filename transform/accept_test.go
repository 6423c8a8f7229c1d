package transform

import "testing"

func TestNegotiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept string
		want   Accepted
	}{
		{"", 0},
		{"*/*", 0},
		{"image/*", 0}, // a wildcard is no promise of AVIF or WebP
		{"image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", AcceptAVIF | AcceptWebP}, // Chrome
		{"image/webp,*/*", AcceptWebP},                                                                        // Firefox before AVIF
		{"image/avif,image/webp,*/*", AcceptAVIF | AcceptWebP},                                                // Firefox
		{"image/webp,image/avif,image/jxl,image/heic,image/*;q=0.8", AcceptAVIF | AcceptWebP | AcceptJXL},     // Safari 17
		{"image/jxl,image/avif,image/webp,image/apng,image/*,*/*;q=0.8", AcceptAVIF | AcceptWebP | AcceptJXL}, // Chromium with JPEG XL
		{"image/jxl;q=0,image/webp", AcceptWebP},
		{"image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", 0}, // old Safari
		{"image/avif;q=0,image/webp", AcceptWebP},
		{"image/avif; q=0.0 ,image/webp;q=0.000", 0},
		{"image/avif;q=0.1", AcceptAVIF},
		{"IMAGE/AVIF", AcceptAVIF},
		{"image/avifx,image/web", 0},
		{" image/webp ; level=1 ; q=1", AcceptWebP},
	}
	for _, tt := range tests {
		if got := Negotiate([]byte(tt.accept)); got != tt.want {
			t.Errorf("Negotiate(%q) = %b, want %b", tt.accept, got, tt.want)
		}
	}
}
