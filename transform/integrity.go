package transform

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// CheckIntegrity refuses a source whose container is truncated or whose
// critical structure is corrupt, before any decoder sees it. libvips 8.14
// decodes such files "successfully" with grey or partial pixels unless it
// fails on every warning, which also refuses files browsers show happily (a
// JPEG with stray bytes before a marker, a PNG with a bad ancillary chunk).
// This check is that middle ground, fail_on=truncated, done in Go: it is
// deterministic where libvips' own check races (PNG CRCs under threading,
// testdata/corpus/README.md), and costs about one CRC pass over the bytes.
// Formats it does not parse pass; their decoders report truncation as errors.
func CheckIntegrity(b []byte) error {
	var err error
	switch Sniff(b) {
	case FormatJPEG:
		err = checkJPEG(b)
	case FormatPNG:
		err = checkPNG(b)
	case FormatGIF:
		err = checkGIF(b)
	case FormatWebP:
		if size := binary.LittleEndian.Uint32(b[4:8]); uint64(size)+8 > uint64(len(b)) {
			err = fmt.Errorf("WebP declares %d bytes but has %d: truncated", uint64(size)+8, len(b))
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return nil
}

// checkJPEG walks the marker segments to the first start of scan, then looks
// for the end-of-image marker. Entropy-coded data stuffs every 0xFF with a
// 0x00, so FF D9 there is always the real EOI; everything after it
// (appended gain maps, trailing junk) is ignored.
func checkJPEG(b []byte) error {
	p := 2
	for {
		for p < len(b) && b[p] == 0xFF && p+1 < len(b) && b[p+1] == 0xFF {
			p++ // fill bytes
		}
		if p+4 > len(b) {
			return fmt.Errorf("JPEG ends inside its headers: truncated")
		}
		if b[p] != 0xFF {
			// Stray bytes before a marker: libjpeg warns and resyncs.
			p++
			continue
		}
		marker := b[p+1]
		if marker == 0xD9 {
			return fmt.Errorf("JPEG has no image data")
		}
		if marker >= 0xD0 && marker <= 0xD7 || marker == 0x01 {
			p += 2
			continue
		}
		size := int(binary.BigEndian.Uint16(b[p+2:]))
		if size < 2 {
			return fmt.Errorf("JPEG segment at byte %d has length %d: corrupt", p, size)
		}
		if p+2+size > len(b) {
			return fmt.Errorf("JPEG segment at byte %d runs past the end: truncated", p)
		}
		p += 2 + size
		if marker == 0xDA {
			break
		}
	}
	// Searched from the end, where a whole file has it: a forward byte loop
	// took 1.3 ms of every miss on a 2.5 MB JPEG (4 % of its render).
	if bytes.LastIndex(b[p:], jpegEOI) >= 0 {
		return nil
	}
	return fmt.Errorf("JPEG has no end-of-image marker: truncated")
}

var jpegEOI = []byte{0xFF, 0xD9}

// JPEGHuffman reports a baseline or progressive Huffman-coded JPEG, the kind
// every browser decodes; arithmetic-coded and lossless JPEGs are not.
func JPEGHuffman(b []byte) bool {
	huffman := false
	jpegSegments(b, func(marker byte, _, _ []byte) bool {
		if isJPEGFrame(marker) {
			huffman = marker == 0xC0 || marker == 0xC1 || marker == 0xC2
			return false
		}
		return marker != 0xDA
	})
	return huffman
}

// checkPNG walks the chunks: each must fit, critical chunks (upper-case first
// letter: IHDR, PLTE, IDAT, IEND) must match their CRC, and IEND must come.
// Ancillary chunks with a bad CRC are left to libpng, which skips them.
func checkPNG(b []byte) error {
	p := 8
	for p+12 <= len(b) {
		n := binary.BigEndian.Uint32(b[p:])
		if uint64(n)+12 > uint64(len(b)-p) {
			return fmt.Errorf("PNG chunk at byte %d runs past the end: truncated", p)
		}
		typ := b[p+4 : p+8]
		end := p + 8 + int(n)
		if typ[0]&0x20 == 0 && crc32.ChecksumIEEE(b[p+4:end]) != binary.BigEndian.Uint32(b[end:]) {
			return fmt.Errorf("PNG chunk %s at byte %d fails its CRC: corrupt", pngChunkName(typ), p)
		}
		if string(typ) == "IEND" {
			return nil
		}
		p = end + 4
	}
	return fmt.Errorf("PNG has no IEND chunk: truncated")
}

// pngChunkName names a critical chunk by its type when it is one of the
// standard's, and only then: an error a client reads quotes nothing from
// the origin's bytes.
func pngChunkName(typ []byte) string {
	switch string(typ) {
	case "IHDR", "PLTE", "IDAT", "IEND":
		return string(typ)
	}
	return "(unknown critical)"
}

// checkGIF walks the blocks to the trailer or to a block it does not know.
func checkGIF(b []byte) error {
	if walkGIF(b, nil) == gifTruncated {
		return fmt.Errorf("GIF ends before its trailer: truncated")
	}
	// At the trailer, or at a block it does not know: libnsgif keeps the
	// frames before a bad block; so do we.
	return nil
}

// gifEnd is where a walk of a GIF's blocks stopped.
type gifEnd uint8

const (
	gifTrailer   gifEnd = iota // the trailer: the file is whole
	gifUnknown                 // a block it does not know
	gifTruncated               // the bytes end inside a block
)

// walkGIF walks a GIF's blocks from its header, calling frame (when not
// nil) with each image descriptor's size and the disposal method its
// graphic control extension gave it (0 without one), and says where it
// stopped.
func walkGIF(b []byte, frame func(w, h int, disposal byte)) gifEnd {
	if len(b) < 13 {
		return gifTruncated
	}
	p := 13
	if b[10]&0x80 != 0 {
		p += 3 << (b[10]&7 + 1) // global colour table
	}
	skipSubBlocks := func() bool {
		for p < len(b) {
			n := int(b[p])
			p++
			if n == 0 {
				return true
			}
			p += n
		}
		return false
	}
	var disposal byte
	for p < len(b) {
		switch b[p] {
		case 0x3B:
			return gifTrailer
		case 0x21: // extension: label, then data sub-blocks
			if p+3 < len(b) && b[p+1] == 0xF9 && b[p+2] >= 1 { // graphic control
				disposal = b[p+3] >> 2 & 7
			}
			p += 2
			if !skipSubBlocks() {
				return gifTruncated
			}
		case 0x2C: // image descriptor, local colour table, LZW size, data
			if p+10 > len(b) {
				return gifTruncated
			}
			if frame != nil {
				frame(int(binary.LittleEndian.Uint16(b[p+5:])), int(binary.LittleEndian.Uint16(b[p+7:])), disposal)
			}
			disposal = 0
			flags := b[p+9]
			p += 10
			if flags&0x80 != 0 {
				p += 3 << (flags&7 + 1)
			}
			p++ // LZW minimum code size
			if !skipSubBlocks() {
				return gifTruncated
			}
		default:
			return gifUnknown
		}
	}
	return gifTruncated
}

// gifRestorePrevious is the disposal method that puts back the canvas as it
// was before the frame: the decoder copies the whole canvas to keep it.
// libnsgif takes the values the standard leaves undefined (4 to 7) the
// same way.
const gifRestorePrevious = 3

// GIFDecodeWork is what decoding a GIF's first frames frames takes besides
// the canvas itself: the pixels of their images, and how many of them
// dispose by restoring the previous canvas. libnsgif composes frame n from
// every frame before it, so frame=n costs n frames; each restore copies
// the whole logical screen, whatever the size of the frame's own image.
func GIFDecodeWork(b []byte, frames int) (pixels int64, restores int) {
	n := 0
	walkGIF(b, func(w, h int, disposal byte) {
		if n >= frames {
			return
		}
		n++
		pixels += int64(w) * int64(h)
		if disposal >= gifRestorePrevious {
			restores++
		}
	})
	return pixels, restores
}

// MaxPNGCompressedText bounds the compressed text chunks of a PNG, which
// libpng inflates as it reads the header, before the render is priced:
// they are refused, not priced. Writers put up to three (ImageMagick's raw
// EXIF, XMP and IPTC profiles); four are at most 32 MB inflated, 8 of them
// (64 MB) had cost 0.7 s and 121 MiB to answer fm=json.
const MaxPNGCompressedText = 4

// PNGCompressedText counts a PNG's compressed text chunks (zTXt, and iTXt
// marked compressed). libpng inflates each, up to 8 MB apiece, as it reads
// the header, before a render is priced or admitted: 100 of them in a 771 KB
// file took 7.6 s of CPU and 1.1 GiB to describe with fm=json. 0 for
// anything else.
func PNGCompressedText(b []byte) int {
	if Sniff(b) != FormatPNG {
		return 0
	}
	n := 0
	for p := 8; p+12 <= len(b); {
		size := binary.BigEndian.Uint32(b[p:])
		if uint64(size)+12 > uint64(len(b)-p) {
			break
		}
		data := b[p+8 : p+8+int(size)]
		switch string(b[p+4 : p+8]) {
		case "zTXt":
			n++
		case "iTXt":
			if k := bytes.IndexByte(data, 0); k >= 0 && k+1 < len(data) && data[k+1] != 0 {
				n++
			}
		case "IEND":
			return n
		}
		p += 12 + int(size)
	}
	return n
}

// WebPFrameWork is what decoding an animated WebP's first frames frames
// takes besides the canvas: the pixels and the coded bytes of their own
// images (ANMF chunks). libwebp's animation decoder decodes every frame
// before the one asked for and blends each onto the canvas, so frame=n
// costs n frames. 0 for a still WebP.
func WebPFrameWork(b []byte, frames int) (pixels, coded int64, decoded int) {
	if Sniff(b) != FormatWebP {
		return 0, 0, 0
	}
	for p := 12; p+8 <= len(b) && decoded < frames; {
		size := int64(binary.LittleEndian.Uint32(b[p+4:]))
		if size > int64(len(b)-p-8) {
			break
		}
		if string(b[p:p+4]) == "ANMF" && size >= 16 {
			d := b[p+8:]
			w := int64(d[6]) | int64(d[7])<<8 | int64(d[8])<<16
			h := int64(d[9]) | int64(d[10])<<8 | int64(d[11])<<16
			pixels += (w + 1) * (h + 1)
			coded += size
			decoded++
		}
		p += 8 + int(size) + int(size&1)
	}
	return pixels, coded, decoded
}
