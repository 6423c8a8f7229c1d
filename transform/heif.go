package transform

import (
	"encoding/binary"
	"fmt"
)

// HEIFCodedPixels is what decoding an AVIF's or a HEIC's primary image
// takes, read from the coded bitstream itself: for every av01 or hvc1 item
// decoded for it (the image, each of its grid's tiles as often as the grid
// names it, its alpha), the largest picture its parameter sets allow,
// those of the item's data and of its configuration box (av1C, hvcC) that
// libheif hands the decoder first; and a grid's or an overlay's canvas.
// The size libvips reports comes from the ispe property, which nothing
// checks against the bitstream: a 2 KB flat 12000x12000 AVIF whose ispe
// says 100x100 was priced at 10,000 pixels and decoded 144 MP (2.8 s,
// 926 MiB). A file whose boxes this cannot read as libheif does (items
// named twice, items sharing their data, more items than any image needs)
// is refused with ErrUnsupported: libheif's own header read of 250 items
// sharing one 40 MB extent took 9.9 s.
func HEIFCodedPixels(b []byte) (int64, error) {
	bad := func(what string) (int64, error) {
		return 0, fmt.Errorf("%w: an AVIF or HEIC whose %s", ErrUnsupported, what)
	}
	meta, ok := findBox(b, "meta")
	if !ok || len(meta) < 4 {
		return bad("meta box is missing")
	}
	meta = meta[4:] // a full box: version and flags
	types, ok := heifItemTypes(boxOr(meta, "iinf"))
	if !ok {
		return bad("item list (iinf) names an item twice, or more than " + fmt.Sprint(maxHEIFItems))
	}
	locs, ok := heifItemData(b, meta)
	if !ok {
		return bad("item locations (iloc) do not parse, name an item twice, or share data between items")
	}
	iprp := boxOr(meta, "iprp")
	var props []heifProp // ipco's boxes, in order
	if ipco, found := findBox(iprp, "ipco"); found {
		walkBoxes(ipco, func(typ string, body []byte) { props = append(props, heifProp{typ, body}) })
	}
	h := &heifFile{types: types, locs: locs, props: props, assoc: heifAssociations(boxOr(iprp, "ipma")), memo: map[uint32]int64{}}
	primary, refs, ok := heifReferences(meta)
	if !ok {
		// No primary item named: every coded item counts.
		var pixels int64
		for id := range types {
			pixels = addPixels(pixels, h.coded(id))
		}
		return pixels, nil
	}
	pixels := h.coded(primary)
	if t := types[primary]; t == "grid" || t == "iovl" {
		// The canvas the tiles are drawn on, then every tile as often as
		// it is named.
		pixels = addPixels(pixels, heifCanvas(locs[primary], t))
		for _, tile := range refs.dimg {
			pixels = addPixels(pixels, h.coded(tile))
		}
	}
	for _, aux := range refs.auxl {
		pixels = addPixels(pixels, h.coded(aux))
	}
	return pixels, nil
}

// addPixels sums pixel counts without overflowing: a crafted SPS may claim
// 2^48 pixels, named by tens of thousands of grid references, and a sum
// that wrapped negative would pass every limit.
func addPixels(a, b int64) int64 { return min(a+b, 1<<60) }

// maxHEIFItems bounds the items of an AVIF or a HEIC: a camera's grid of
// 48 tiles with its thumbnail, alpha and depth is far below it.
const maxHEIFItems = 1024

// heifProp is one of ipco's property boxes.
type heifProp struct {
	typ  string
	body []byte
}

type heifFile struct {
	types map[uint32]string
	locs  map[uint32][]byte
	props []heifProp
	assoc map[uint32][]int
	memo  map[uint32]int64 // coded pixels by item: a tile named again is read once
}

// coded is the largest picture item id's parameter sets allow, 0 for an
// item that is not coded data.
func (h *heifFile) coded(id uint32) int64 {
	if px, ok := h.memo[id]; ok {
		return px
	}
	t := h.types[id]
	var config, px int64
	for _, i := range h.assoc[id] {
		if i < 1 || i > len(h.props) {
			continue
		}
		typ, body := h.props[i-1].typ, h.props[i-1].body
		switch {
		case t == "av01" && typ == "av1C" && len(body) > 4:
			config = max(config, av1MaxFrame(body[4:]))
		case t == "hvc1" && typ == "hvcC":
			config = max(config, hvcCMaxPicture(body))
		}
	}
	switch t {
	case "av01":
		px = max(av1MaxFrame(h.locs[id]), config)
	case "hvc1":
		// libheif 1.15 reads four-byte NAL lengths whatever hvcC says.
		px = max(hevcMaxPicture(h.locs[id], 4), config)
	}
	h.memo[id] = px
	return px
}

// heifCanvas is the output size of a grid (ImageGrid) or an overlay
// (ImageOverlay) item's data (ISO/IEC 23008-12, 6.6.2.3 and 6.6.2.2).
func heifCanvas(data []byte, typ string) int64 {
	r := &byteReader{b: data}
	r.n(1) // version
	flags := r.n(1)
	if typ == "grid" {
		r.n(2) // rows_minus_one, columns_minus_one
	} else {
		r.n(8) // canvas_fill_value: four 16-bit values
	}
	size := 2
	if flags&1 != 0 {
		size = 4
	}
	w, hgt := r.n(size), r.n(size)
	if r.bad {
		return 0
	}
	return int64(min(w, 1<<24)) * int64(min(hgt, 1<<24))
}

// heifRefs are the references libheif follows from the primary image:
// the tiles of a grid or an overlay (dimg, in order, repeats included) and
// the auxiliary images referring to it (auxl: alpha, depth).
type heifRefs struct{ dimg, auxl []uint32 }

// heifReferences reads pitm and iref. ok is false when the file names no
// primary item.
func heifReferences(meta []byte) (primary uint32, refs heifRefs, ok bool) {
	pitm, found := findBox(meta, "pitm")
	if !found || len(pitm) < 6 {
		return 0, refs, false
	}
	r := &byteReader{b: pitm}
	version := r.n(1)
	r.n(3)
	p := r.n(2)
	if version > 0 {
		p = r.n(4)
	}
	if r.bad {
		return 0, refs, false
	}
	primary = uint32(p)
	iref := boxOr(meta, "iref")
	if len(iref) < 4 {
		return primary, refs, true
	}
	idSize := 2
	if iref[0] > 0 {
		idSize = 4
	}
	walkBoxes(iref[4:], func(typ string, body []byte) {
		r := &byteReader{b: body}
		from := uint32(r.n(idSize))
		for range r.n(2) {
			to := uint32(r.n(idSize))
			switch {
			case r.bad:
				return
			case typ == "dimg" && from == primary:
				refs.dimg = append(refs.dimg, to)
			case typ == "auxl" && to == primary:
				refs.auxl = append(refs.auxl, from)
			}
		}
	})
	return primary, refs, true
}

// heifAssociations reads ipma: each item's properties, as 1-based indexes
// into ipco's boxes.
func heifAssociations(ipma []byte) map[uint32][]int {
	out := map[uint32][]int{}
	r := &byteReader{b: ipma}
	version, flags := r.n(1), r.n(3)
	for range min(r.n(4), 1<<16) {
		id := r.n(2)
		if version >= 1 {
			id = r.n(4)
		}
		for range r.n(1) {
			i := r.n(1) & 0x7f
			if flags&1 != 0 {
				i = (i<<8 | r.n(1)) & 0x7fff
			}
			out[uint32(id)] = append(out[uint32(id)], int(i))
		}
		if r.bad {
			break
		}
	}
	return out
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

// heifItemTypes reads iinf: each item's type by its id. ok is false when
// an id comes twice or there are more than maxHEIFItems.
func heifItemTypes(iinf []byte) (types map[uint32]string, ok bool) {
	types, ok = map[uint32]string{}, true
	if len(iinf) < 6 {
		return types, true
	}
	skip := 6 // version, flags, a 16-bit count
	if iinf[0] > 0 {
		skip = 8
	}
	if len(iinf) < skip {
		return types, true
	}
	n := 0
	walkBoxes(iinf[skip:], func(typ string, e []byte) {
		if typ != "infe" || len(e) < 4 {
			return
		}
		var id uint32
		var t string
		switch v := e[0]; {
		case v == 2 && len(e) >= 12:
			id, t = uint32(binary.BigEndian.Uint16(e[4:])), string(e[8:12])
		case v >= 3 && len(e) >= 14:
			id, t = binary.BigEndian.Uint32(e[4:]), string(e[10:14])
		default:
			return
		}
		if _, dup := types[id]; dup {
			ok = false
		}
		if n++; n > maxHEIFItems {
			ok = false
		}
		types[id] = t
	})
	return types, ok
}

// heifItemData reads iloc: each item's data, its extents joined, from the
// file or from idat. ok is false when iloc does not parse, names an item
// twice, or its items' extents add up to more than the file holds (items
// sharing data, read again for each by libheif).
func heifItemData(file, meta []byte) (map[uint32][]byte, bool) {
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
	if count > maxHEIFItems {
		return nil, false
	}
	out := map[uint32][]byte{}
	var total uint64
	for range count {
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
		var data []byte
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
			if method > 1 || off > uint64(len(src)) {
				continue
			}
			end := uint64(len(src))
			if n > 0 {
				end = min(end, off+n)
			}
			if total += end - off; total > uint64(len(file)) {
				return nil, false
			}
			if e == 0 {
				data = src[off:end]
			} else {
				data = append(data[:len(data):len(data)], src[off:end]...)
			}
		}
		if _, dup := out[uint32(id)]; dup {
			return nil, false
		}
		out[uint32(id)] = data
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

// hvcCMaxPicture reads an HEVC configuration box (ISO/IEC 14496-15, 8.3.3):
// the largest picture the sequence parameter sets among its NAL units
// allow, each known by its own header whatever its array says (libheif
// hands the decoder every one).
func hvcCMaxPicture(b []byte) (pixels int64) {
	if len(b) < 23 {
		return 0
	}
	p, arrays := 23, int(b[22])
	for range arrays {
		if p+3 > len(b) {
			break
		}
		n := int(binary.BigEndian.Uint16(b[p+1:]))
		p += 3
		for range n {
			if p+2 > len(b) {
				return pixels
			}
			size := int(binary.BigEndian.Uint16(b[p:]))
			p += 2
			if p+size > len(b) {
				return pixels
			}
			if nal := b[p : p+size]; len(nal) >= 2 && nal[0]>>1&0x3f == hevcSPS {
				pixels = max(pixels, hevcSPSPicture(nal))
			}
			p += size
		}
	}
	return pixels
}

// hevcMaxPicture is the largest picture the sequence parameter sets among
// the length-prefixed NAL units of b allow.
func hevcMaxPicture(b []byte, lengthSize int) int64 {
	var most int64
	for len(b) >= lengthSize {
		var n uint64
		for _, c := range b[:lengthSize] {
			n = n<<8 | uint64(c)
		}
		b = b[lengthSize:]
		if n > uint64(len(b)) {
			break
		}
		if n >= 2 && b[0]>>1&0x3f == hevcSPS {
			most = max(most, hevcSPSPicture(b[:n]))
		}
		b = b[n:]
	}
	return most
}

const hevcSPS = 33 // the NAL unit type of a sequence parameter set

// hevcSPSPicture reads pic_width_in_luma_samples by
// pic_height_in_luma_samples from a sequence parameter set NAL unit (its
// two-byte header included; ITU-T H.265, 7.3.2.2), 0 when it does not parse.
func hevcSPSPicture(nal []byte) int64 {
	if len(nal) < 3 {
		return 0
	}
	// The payload without its emulation prevention bytes (00 00 03).
	rbsp := make([]byte, 0, len(nal))
	zeros := 0
	for _, c := range nal[2:] {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		rbsp = append(rbsp, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	r := &bitReader{b: rbsp}
	r.bits(4) // sps_video_parameter_set_id
	subLayers := int(r.bits(3))
	r.bits(1) // sps_temporal_id_nesting_flag
	// profile_tier_level: the general profile, 88 bits, and level, 8.
	r.bits(88)
	r.bits(8)
	profile, level := make([]bool, subLayers), make([]bool, subLayers)
	for i := range subLayers {
		profile[i], level[i] = r.bits(1) == 1, r.bits(1) == 1
	}
	if subLayers > 0 {
		r.bits(2 * (8 - subLayers)) // reserved_zero_2bits
	}
	for i := range subLayers {
		if profile[i] {
			r.bits(88)
		}
		if level[i] {
			r.bits(8)
		}
	}
	r.ue()           // sps_seq_parameter_set_id
	if r.ue() == 3 { // chroma_format_idc
		r.bits(1) // separate_colour_plane_flag
	}
	w, h := r.ue(), r.ue()
	if r.bad {
		return 0
	}
	// Whatever a crafted one says is believed, within int64.
	return int64(min(w, 1<<24)) * int64(min(h, 1<<24))
}

// ue reads an unsigned Exp-Golomb code.
func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.bits(1) == 0 && !r.bad {
		if zeros++; zeros >= 32 {
			r.bad = true
			return 0
		}
	}
	return r.bits(zeros) + (1 << zeros) - 1
}
