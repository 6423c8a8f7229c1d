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
// false for a JPEG of one scan, whose decode streams. Every DCT frame type
// counts: Huffman or arithmetic, sequential or progressive (libjpeg-turbo
// decodes arithmetic coding, where a flat scan is a few bytes: 2,647 scans
// of 7000x7000 in 31 KB).
func ReadJPEGProgression(b []byte) (p JPEGProgression, ok bool) {
	if !bytes.HasPrefix(b, []byte{0xFF, 0xD8}) {
		return JPEGProgression{}, false // not a JPEG
	}
	jpegSegments(b, func(marker byte, seg []byte, rest []byte) bool {
		switch {
		case isJPEGFrame(marker):
			p, ok = frameBlocks(seg)
			return ok
		case marker == 0xDA:
			if ok {
				p.Scans = 1 + laterScans(rest)
			}
			return false
		}
		return true
	})
	return p, ok && p.Scans > 1
}

// laterScans counts the scans after the first, in b from the first scan's
// data on: entropy-coded data escapes every 0xFF with a following 0x00 (or
// is a restart marker), so the next other marker ends it; the segments
// between scans are skipped by their length (an APPn holding FF DA or FF D9
// is no scan nor the end), and the end of the image ends the count (what
// follows, a Motion Photo's video or an MPF image, is not read by libjpeg).
func laterScans(b []byte) int {
	scans := 0
	for p := 0; ; {
		i := bytes.IndexByte(b[p:], 0xFF)
		if i < 0 || p+i+1 >= len(b) {
			return scans
		}
		p += i
		switch m := b[p+1]; {
		case m == 0xFF:
			p++ // fill byte before a marker
		case m == 0x00 || m >= 0xD0 && m <= 0xD7 || m == 0x01:
			p += 2 // stuffing, a restart marker, TEM
		case m == 0xD9:
			return scans
		default:
			if p+4 > len(b) {
				return scans
			}
			size := int(binary.BigEndian.Uint16(b[p+2:]))
			if size < 2 {
				return scans
			}
			if m == 0xDA {
				scans++
			}
			p += 2 + size
			if p > len(b) {
				return scans
			}
		}
	}
}

// isJPEGFrame reports a start-of-frame marker: SOF0 to SOF15 but DHT (C4),
// JPG (C8) and DAC (CC).
func isJPEGFrame(m byte) bool { return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC }

// jpegSegments walks b's marker segments up to the first scan as libjpeg
// does (and checkJPEG): fill bytes and stray bytes between markers are
// skipped, markers without a length (TEM, RSTn) stand alone. yield gets
// each marker, its segment after the length, and what follows it; it stops
// the walk by returning false. A length shorter than itself or running past
// the end ends the walk.
func jpegSegments(b []byte, yield func(marker byte, seg, rest []byte) bool) {
	for p := 2; p+2 <= len(b); {
		if b[p] != 0xFF {
			p++ // stray byte: libjpeg warns and resyncs
			continue
		}
		marker := b[p+1]
		switch {
		case marker == 0xFF:
			p++ // fill byte
			continue
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD7:
			p += 2
			continue
		case marker == 0xD9 || p+4 > len(b):
			return
		}
		size := int(binary.BigEndian.Uint16(b[p+2:]))
		if size < 2 || p+2+size > len(b) {
			return
		}
		if !yield(marker, b[p+4:p+2+size], b[p+2+size:]) {
			return
		}
		p += 2 + size
	}
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
