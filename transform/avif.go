package transform

import (
	"encoding/binary"
)

// AVIFCodedPixels is what decoding an AVIF's images takes, read from the
// AV1 bitstream itself: for every av01 item (the image, its tiles, its
// alpha), the largest frame its sequence headers allow, those of the item's
// data and of the av1C configuration libheif hands the decoder first. The
// size libvips reports comes from the ispe property, which nothing checks
// against the bitstream: a 2 KB flat 12000x12000 image whose ispe says
// 100x100 was priced at 10,000 pixels and decoded 144 MP (2.8 s, 926 MiB).
// ok is false when the file's boxes do not parse; pixels is then 0.
func AVIFCodedPixels(b []byte) (pixels int64, ok bool) {
	meta, ok := findBox(b, "meta")
	if !ok || len(meta) < 4 {
		return 0, false
	}
	meta = meta[4:] // a full box: version and flags
	types := avifItemTypes(boxOr(meta, "iinf"))
	locs, ok := avifItemData(b, meta)
	if !ok {
		return 0, false
	}
	var config int64 // the largest frame any av1C allows
	if ipco, found := findBox(boxOr(meta, "iprp"), "ipco"); found {
		walkBoxes(ipco, func(typ string, body []byte) {
			if typ == "av1C" && len(body) > 4 {
				config = max(config, av1MaxFrame(body[4:]))
			}
		})
	}
	for id, t := range types {
		if t != "av01" {
			continue
		}
		pixels += max(av1MaxFrame(locs[id]), config)
	}
	return pixels, true
}

// walkBoxes calls f with each ISO-BMFF box in b, its type and body.
func walkBoxes(b []byte, f func(typ string, body []byte)) {
	for len(b) >= 8 {
		size, head := uint64(binary.BigEndian.Uint32(b)), 8
		typ := string(b[4:8])
		switch size {
		case 0:
			size = uint64(len(b))
		case 1:
			if len(b) < 16 {
				return
			}
			size, head = binary.BigEndian.Uint64(b[8:]), 16
		}
		if size < uint64(head) || size > uint64(len(b)) {
			return
		}
		f(typ, b[head:size])
		b = b[size:]
	}
}

func findBox(b []byte, typ string) (body []byte, found bool) {
	walkBoxes(b, func(t string, bd []byte) {
		if t == typ && !found {
			body, found = bd, true
		}
	})
	return body, found
}

func boxOr(b []byte, typ string) []byte {
	body, _ := findBox(b, typ)
	return body
}

// avifItemTypes reads iinf: each item's type by its id.
func avifItemTypes(iinf []byte) map[uint32]string {
	types := map[uint32]string{}
	if len(iinf) < 6 {
		return types
	}
	skip := 6 // version, flags, a 16-bit count
	if iinf[0] > 0 {
		skip = 8
	}
	if len(iinf) < skip {
		return types
	}
	walkBoxes(iinf[skip:], func(typ string, e []byte) {
		if typ != "infe" || len(e) < 4 {
			return
		}
		switch v := e[0]; {
		case v == 2 && len(e) >= 12:
			types[uint32(binary.BigEndian.Uint16(e[4:]))] = string(e[8:12])
		case v >= 3 && len(e) >= 14:
			types[binary.BigEndian.Uint32(e[4:])] = string(e[10:14])
		}
	})
	return types
}

// avifItemData reads iloc: each item's first extent, from the file or from
// idat. An item stored otherwise has none.
func avifItemData(file, meta []byte) (map[uint32][]byte, bool) {
	loc, found := findBox(meta, "iloc")
	if !found {
		return nil, false
	}
	idat := boxOr(meta, "idat")
	r := &byteReader{b: loc}
	version := r.n(1)
	r.n(3) // flags
	sizes := r.n(2)
	offSize, lenSize, baseSize, idxSize := int(sizes>>12), int(sizes>>8&15), int(sizes>>4&15), int(sizes&15)
	if version == 0 {
		idxSize = 0
	}
	count := r.n(2)
	if version == 2 {
		count = r.n(4)
	}
	out := map[uint32][]byte{}
	for range min(count, 1<<16) {
		id := r.n(2)
		if version == 2 {
			id = r.n(4)
		}
		method := uint64(0)
		if version > 0 {
			method = r.n(2) & 15
		}
		r.n(2) // data reference index
		base := r.n(baseSize)
		extents := r.n(2)
		for e := range extents {
			r.n(idxSize)
			off, n := base+r.n(offSize), r.n(lenSize)
			if r.bad {
				return nil, false
			}
			src := file
			if method == 1 {
				src = idat
			}
			if e > 0 || method > 1 || off > uint64(len(src)) {
				continue
			}
			end := uint64(len(src))
			if n > 0 {
				end = min(end, off+n)
			}
			out[uint32(id)] = src[off:end]
		}
	}
	return out, !r.bad
}

// av1MaxFrame is the largest frame area the AV1 sequence headers among the
// OBUs in b allow (max_frame_width_minus_1 + 1 by height), 0 without one.
func av1MaxFrame(b []byte) int64 {
	var most int64
	for len(b) > 0 {
		head := b[0]
		typ, ext, sized := head>>3&15, head&4 != 0, head&2 != 0
		p := 1
		if ext {
			p++
		}
		size := uint64(len(b) - min(p, len(b)))
		if sized {
			var n int
			size, n = leb128(b[min(p, len(b)):])
			if n == 0 {
				return most
			}
			p += n
		}
		if uint64(p) > uint64(len(b)) || size > uint64(len(b)-p) {
			return most
		}
		if typ == 1 { // OBU_SEQUENCE_HEADER
			if w, h, ok := av1SequenceSize(b[p : p+int(size)]); ok {
				most = max(most, int64(w)*int64(h))
			}
		}
		b = b[p+int(size):]
	}
	return most
}

func leb128(b []byte) (v uint64, n int) {
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// av1SequenceSize reads max_frame_width_minus_1 and max_frame_height_minus_1
// from a sequence header OBU's payload (AV1 specification, 5.5).
func av1SequenceSize(b []byte) (w, h int, ok bool) {
	r := &bitReader{b: b}
	r.bits(3)           // seq_profile
	r.bits(1)           // still_picture
	if r.bits(1) == 1 { // reduced_still_picture_header
		r.bits(5) // seq_level_idx[0]
	} else {
		decoderModel, bufferDelayBits := false, 0
		if r.bits(1) == 1 { // timing_info_present_flag
			r.bits(32)          // num_units_in_display_tick
			r.bits(32)          // time_scale
			if r.bits(1) == 1 { // equal_picture_interval
				r.uvlc() // num_ticks_per_picture_minus_1
			}
			if r.bits(1) == 1 { // decoder_model_info_present_flag
				decoderModel = true
				bufferDelayBits = int(r.bits(5)) + 1
				r.bits(32) // num_units_in_decoding_tick
				r.bits(5)  // buffer_removal_time_length_minus_1
				r.bits(5)  // frame_presentation_time_length_minus_1
			}
		}
		displayDelay := r.bits(1) == 1
		for range r.bits(5) + 1 { // operating points
			r.bits(12)         // operating_point_idc
			if r.bits(5) > 7 { // seq_level_idx
				r.bits(1) // seq_tier
			}
			if decoderModel && r.bits(1) == 1 {
				r.bits(bufferDelayBits) // decoder_buffer_delay
				r.bits(bufferDelayBits) // encoder_buffer_delay
				r.bits(1)               // low_delay_mode_flag
			}
			if displayDelay && r.bits(1) == 1 {
				r.bits(4) // initial_display_delay_minus_1
			}
		}
	}
	wb, hb := int(r.bits(4))+1, int(r.bits(4))+1
	w, h = int(r.bits(wb))+1, int(r.bits(hb))+1
	return w, h, !r.bad
}

// bitReader reads big-endian bit fields; past the end it reads zeros and
// marks itself bad.
type bitReader struct {
	b   []byte
	pos int
	bad bool
}

func (r *bitReader) bits(n int) uint64 {
	var v uint64
	for range n {
		i := r.pos >> 3
		if i >= len(r.b) {
			r.bad = true
			return 0
		}
		v = v<<1 | uint64(r.b[i]>>(7-r.pos&7)&1)
		r.pos++
	}
	return v
}

func (r *bitReader) uvlc() uint64 {
	zeros := 0
	for r.bits(1) == 0 && !r.bad {
		if zeros++; zeros >= 32 {
			return 1<<32 - 1
		}
	}
	return r.bits(zeros) + (1 << zeros) - 1
}

// byteReader reads big-endian integers of n bytes; past the end it reads
// zeros and marks itself bad.
type byteReader struct {
	b   []byte
	bad bool
}

func (r *byteReader) n(size int) uint64 {
	if size > len(r.b) || size > 8 {
		r.bad = true
		return 0
	}
	var v uint64
	for _, c := range r.b[:size] {
		v = v<<8 | uint64(c)
	}
	r.b = r.b[size:]
	return v
}
