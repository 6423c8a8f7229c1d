package transform

import (
	"bytes"
	"encoding/binary"
	"regexp"
)

// Complete reports whether b holds the whole of its file as far as its own
// structure tells, for the formats CheckIntegrity does not walk: the boxes
// of an AVIF, HEIF or JPEG XL container end exactly at the end of b, a
// TIFF's strips and tiles lie within it, an SVG ends with its root's end
// tag. A folder origin reads a file just written in place, which can be a
// prefix of the new version, only when it is whole; a format it cannot
// judge (a bare JPEG XL codestream, SVGZ) counts as whole, and one whose
// last box runs "to the end of the file" does not.
func Complete(b []byte) bool {
	switch Sniff(b) {
	case FormatAVIF, FormatHEIF:
		return boxesComplete(b)
	case FormatJXL:
		if bytes.HasPrefix(b, []byte("\x00\x00\x00\x0cJXL ")) {
			return boxesComplete(b)
		}
		return true
	case FormatTIFF:
		return tiffComplete(b)
	case FormatSource:
		if IsSVG(b) {
			return svgComplete(b)
		}
	}
	return true
}

// boxesComplete walks ISO-BMFF top-level boxes (ISO/IEC 14496-12 4.2):
// each says its size (1: a 64-bit size follows; 0: to the end of the file),
// and a whole file ends where its last box does.
func boxesComplete(b []byte) bool {
	for p := uint64(0); p < uint64(len(b)); {
		if uint64(len(b))-p < 8 {
			return false
		}
		size := uint64(binary.BigEndian.Uint32(b[p:]))
		switch size {
		case 0:
			// "To the end of the file": every prefix that reaches into
			// it looks whole, so nothing proves a recent file is.
			return false
		case 1:
			if uint64(len(b))-p < 16 {
				return false
			}
			size = binary.BigEndian.Uint64(b[p+8:])
		}
		if size < 8 || size > uint64(len(b))-p {
			return false
		}
		p += size
	}
	return true
}

// tiffComplete reads the first IFD and checks that it, every value it
// points to, and every strip or tile it lists (offsets and byte counts,
// tags 273/279 and 324/325) lie within b.
func tiffComplete(b []byte) bool {
	var order binary.ByteOrder = binary.LittleEndian
	if b[0] == 'M' {
		order = binary.BigEndian
	}
	size := uint64(len(b))
	ifd := uint64(order.Uint32(b[4:]))
	if ifd+2 > size {
		return false
	}
	n := uint64(order.Uint16(b[ifd:]))
	if ifd+2+12*n+4 > size { // the entries and the next IFD's offset
		return false
	}
	values := map[uint16][]uint64{}
	for i := range n {
		e := b[ifd+2+12*i:]
		tag, typ, count := order.Uint16(e), order.Uint16(e[2:]), uint64(order.Uint32(e[4:]))
		width := tiffTypeBytes(typ)
		data := e[8:12]
		if count*width > 4 {
			at := uint64(order.Uint32(e[8:]))
			if count > size || at+count*width > size {
				return false
			}
			data = b[at : at+count*width]
		}
		if tag != 273 && tag != 279 && tag != 324 && tag != 325 || width != 2 && width != 4 {
			continue
		}
		for k := range count {
			if width == 2 {
				values[tag] = append(values[tag], uint64(order.Uint16(data[2*k:])))
			} else {
				values[tag] = append(values[tag], uint64(order.Uint32(data[4*k:])))
			}
		}
	}
	for _, pair := range [][2]uint16{{273, 279}, {324, 325}} {
		offsets, counts := values[pair[0]], values[pair[1]]
		for i := range min(len(offsets), len(counts)) {
			if offsets[i]+counts[i] > size {
				return false
			}
		}
	}
	return true
}

// tiffTypeBytes is the size of one value of a TIFF field type (TIFF 6.0
// section 2); 1 for types it does not name.
func tiffTypeBytes(typ uint16) uint64 {
	switch typ {
	case 3, 8: // SHORT, SSHORT
		return 2
	case 4, 9, 11, 13: // LONG, SLONG, FLOAT, IFD
		return 4
	case 5, 10, 12: // RATIONAL, SRATIONAL, DOUBLE
		return 8
	}
	return 1
}

// svgTag finds <svg and </svg tags, prefixed or not.
var svgTag = regexp.MustCompile(`<(/?)(?:[A-Za-z_][\w.-]*:)?svg[\s>/]`)

// svgComplete reports an SVG whose <svg> elements are all closed and
// that ends with the last of them: a prefix cut just after a nested
// </svg> (an icon sprite) or a comment has an <svg> left open.
func svgComplete(b []byte) bool {
	depth := 0
	for _, m := range svgTag.FindAllSubmatchIndex(b, -1) {
		switch {
		case m[3] > m[2]:
			depth-- // </svg
		case !selfClosing(b[m[1]-1:]):
			depth++
		}
	}
	end := bytes.TrimRight(b, " \t\r\n")
	return depth <= 0 && (bytes.HasSuffix(end, []byte("svg>")) || bytes.HasSuffix(end, []byte("-->")))
}

// selfClosing reports a tag, read from inside it, that ends with "/>".
func selfClosing(tag []byte) bool {
	end := bytes.IndexByte(tag, '>')
	return end > 0 && tag[end-1] == '/'
}
