package transform

import (
	"bytes"
	"encoding/binary"
)

// JPEGProgression describes how a JPEG of several scans (progressive, or a
// sequential one whose components come in scans of their own) is decoded:
// libjpeg keeps
// every DCT coefficient of the image for as long as the scans come (two
// bytes each, at full size whatever scale is asked: a 7000x7000 progressive
// JPEG asked for w=100 held 280 MB more than the baseline one), and reads
// every scan over all of its component's blocks before the first row is
// out (a valid 2,647-scan progression of 7000x7000, 486 KB, took 45 s).
type JPEGProgression struct {
	Scans int
	// CoefficientBytes is what libjpeg's whole-image coefficient buffer
	// holds: 128 bytes per 8x8 block of each component, as sampled.
	CoefficientBytes int64
	// MaxBlocks is the blocks of the largest component: what one scan
	// visits at most.
	MaxBlocks int64
}

// ReadJPEGProgression reads b's frame header and counts its scans; ok is
// false for a JPEG of one scan (or not Huffman-coded), whose decode
// streams. Entropy-coded data escapes every 0xFF with a following 0x00, so
// each FF DA after the first scan's header is the start of another scan.
func ReadJPEGProgression(b []byte) (p JPEGProgression, ok bool) {
	pos := 2
	for pos+4 <= len(b) && b[pos] == 0xFF {
		marker := b[pos+1]
		if marker == 0xFF {
			pos++ // fill byte
			continue
		}
		size := int(binary.BigEndian.Uint16(b[pos+2:]))
		seg := b[pos+4 : min(len(b), pos+2+size)]
		switch {
		case marker == 0xC0 || marker == 0xC1 || marker == 0xC2:
			if p, ok = frameBlocks(seg); !ok {
				return JPEGProgression{}, false
			}
		case marker == 0xDA:
			if !ok {
				return JPEGProgression{}, false
			}
			p.Scans = 1 + bytes.Count(b[pos+2:], []byte{0xFF, 0xDA})
			return p, p.Scans > 1
		case marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
			return JPEGProgression{}, false // another frame type
		}
		pos += 2 + size
	}
	return JPEGProgression{}, false
}

// frameBlocks reads a frame header (after its length): precision, height,
// width, then each component's id, sampling factors and table.
func frameBlocks(seg []byte) (JPEGProgression, bool) {
	if len(seg) < 6 {
		return JPEGProgression{}, false
	}
	h, w, n := int64(binary.BigEndian.Uint16(seg[1:])), int64(binary.BigEndian.Uint16(seg[3:])), int(seg[5])
	if len(seg) < 6+3*n || n == 0 {
		return JPEGProgression{}, false
	}
	hmax, vmax := int64(1), int64(1)
	for i := range n {
		f := seg[6+3*i+1]
		hmax, vmax = max(hmax, int64(f>>4)), max(vmax, int64(f&15))
	}
	var p JPEGProgression
	for i := range n {
		f := seg[6+3*i+1]
		hi, vi := max(int64(f>>4), 1), max(int64(f&15), 1)
		blocks := ceilDiv64(ceilDiv64(w*hi, hmax), 8) * ceilDiv64(ceilDiv64(h*vi, vmax), 8)
		p.CoefficientBytes += blocks * 64 * 2
		p.MaxBlocks = max(p.MaxBlocks, blocks)
	}
	return p, true
}

func ceilDiv64(a, b int64) int64 { return (a + b - 1) / b }
