package transform

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // header readers for embedded rasters
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	_ "golang.org/x/image/webp"
)

// SVG is a document the edge parsed and wrote out again: Doc holds only what
// the parser understood and kept, and is the only text the SVG renderer
// (librsvg) is given, so what is priced from the parse is what is drawn.
// The counts are per render of the whole document; librsvg draws it again
// for every tile libvips asks for.
type SVG struct {
	Doc            []byte
	EmbeddedPixels int64 // pixels of the embedded rasters, every frame of a GIF, each occurrence
	Elements       int   // elements in Doc: librsvg holds a node for each
	Instances      int64 // elements drawn once <use>, mask, clip-path and marker references are expanded
	Layers         int64 // of those, translucent ones (opacity < 1): each composited through a surface the size of the canvas
	Masks          int64 // masks drawn: each a canvas-sized surface rendered, converted and composited
	Paints         int64 // elements drawn with a gradient fill or stroke: each priced as covering the canvas
	LayerDepth     int   // canvas-sized surfaces held at once by nested layers and masks
	TextWork       int64 // characters squared, summed over the <text> elements drawn: librsvg's layout time grows faster than their length
	// PathVerts and PathWork are the numbers and commands of the path data
	// and points lists drawn (n for each, over-counted as vertices does),
	// and the sum of n·√n over them: Cairo's scan converter keeps a path's
	// edges sorted along each row, and edges that cross one another cost
	// more the more of them a path has.
	PathVerts, PathWork int64
	// Dashes bounds the dashes stroked (svgdash.go): Cairo outlines each.
	Dashes int64
	// PathCrossings estimates the crossings of the paths' segments
	// (pathCrossings), each one drawn: Cairo's tessellator stops at each.
	PathCrossings int64
}

// Limits of what CanonicalSVG accepts. libxml2, which librsvg parses with,
// refuses documents nested 256 deep; well below that, librsvg's own
// recursion (one native stack frame chain per level, references included)
// stays shallow.
const (
	// MaxSVGBytes bounds the canonical document, embedded rasters included.
	MaxSVGBytes      = 16 << 20
	maxSVGElements   = 100_000 // kept elements
	maxSVGNesting    = 100     // elements within elements, as written
	maxSVGDepth      = 200     // nesting once references are followed
	maxSVGInstances  = 250_000 // elements drawn per render
	maxSVGMasks      = 1_000   // masks drawn per render (priced; this only bounds the sums)
	maxSVGLayers     = 10_000  // translucent elements drawn per render (ditto)
	maxSVGLayerDepth = 32      // canvas-sized surfaces alive at once
	maxSVGRules      = 1_024   // rules kept from <style> elements
	// maxSVGTextChars bounds one <text> element: librsvg 2.54 lays out
	// 4,000 characters in 0.9 s, 8,000 in 10 s and 16,000 in 68 s.
	maxSVGTextChars = 4_000
)

const (
	svgNS   = "http://www.w3.org/2000/svg"
	xlinkNS = "http://www.w3.org/1999/xlink"
	xmlNS   = "http://www.w3.org/XML/1998/namespace"
)

// svgElements is the allowlist of SVG elements, each with whether it is drawn
// where it stands (false: only when referenced, or never by itself).
// Not kept, with everything inside them: script, foreignObject, filter and
// its primitives (each primitive's cost depends on its own parameters, none
// of which the cost model measures), pattern (librsvg allocates the tile at
// its own size in device pixels, however small the output: a 100x100 SVG
// with a 20000x20000 tile held 1.6 GB), animation, fonts, metadata, title,
// desc, and elements of any other namespace. An <a> is kept as a group:
// its link is dropped.
var svgElements = map[string]bool{
	"svg": true, "g": true, "a": true, "switch": true, "use": true, "image": true,
	"path": true, "rect": true, "circle": true, "ellipse": true, "line": true, "polyline": true, "polygon": true,
	"text": true, "tspan": true, "textPath": true,
	"defs": false, "symbol": false, "clipPath": false, "mask": false, "marker": false,
	"linearGradient": false, "radialGradient": false, "stop": false, "style": false,
}

// svgAttributes are the non-property attributes kept (on any element:
// librsvg ignores those an element does not take).
var svgAttributes = map[string]bool{
	"id": true, "class": true, "x": true, "y": true, "width": true, "height": true, "rx": true, "ry": true,
	"cx": true, "cy": true, "r": true, "fx": true, "fy": true, "fr": true, "x1": true, "y1": true, "x2": true, "y2": true,
	"d": true, "points": true, "pathLength": true, "viewBox": true, "preserveAspectRatio": true,
	"gradientUnits": true, "spreadMethod": true, "offset": true, "clipPathUnits": true, "maskUnits": true,
	"maskContentUnits": true, "markerUnits": true, "markerWidth": true, "markerHeight": true, "refX": true, "refY": true,
	"orient": true, "dx": true, "dy": true, "rotate": true, "textLength": true, "lengthAdjust": true,
	"startOffset": true, "method": true, "spacing": true, "side": true, "systemLanguage": true,
	"requiredFeatures": true, "requiredExtensions": true, "version": true,
	"transform": true, "gradientTransform": true,
}

// svgProperties are the CSS properties kept, as presentation attributes, in
// style attributes and in <style> rules. Not kept: filter and its flood and
// lighting colours, mix-blend-mode and isolation (each makes a layer the
// cost model does not count), cursor and pointer events.
var svgProperties = map[string]bool{
	"alignment-baseline": true, "baseline-shift": true, "clip": true, "clip-path": true, "clip-rule": true,
	"color": true, "color-interpolation": true, "color-rendering": true, "direction": true, "display": true,
	"dominant-baseline": true, "fill": true, "fill-opacity": true, "fill-rule": true, "font": true,
	"font-family": true, "font-size": true, "font-size-adjust": true, "font-stretch": true, "font-style": true,
	"font-variant": true, "font-weight": true, "glyph-orientation-horizontal": true,
	"glyph-orientation-vertical": true, "image-rendering": true, "letter-spacing": true, "line-height": true,
	"marker": true, "marker-start": true, "marker-mid": true, "marker-end": true, "mask": true, "mask-type": true,
	"opacity": true, "overflow": true, "paint-order": true, "shape-rendering": true, "stop-color": true,
	"stop-opacity": true, "stroke": true, "stroke-dasharray": true, "stroke-dashoffset": true,
	"stroke-linecap": true, "stroke-linejoin": true, "stroke-miterlimit": true, "stroke-opacity": true,
	"stroke-width": true, "text-anchor": true, "text-decoration": true, "text-rendering": true,
	"unicode-bidi": true, "vector-effect": true, "visibility": true, "white-space": true, "word-spacing": true,
	"writing-mode": true,
}

// svgRefProperties take url(#id); fill and stroke name paint servers
// (gradients), the others elements whose content is drawn again for each
// element they apply to.
var svgRefProperties = map[string]bool{
	"fill": true, "stroke": true, "clip-path": true, "mask": true,
	"marker": true, "marker-start": true, "marker-mid": true, "marker-end": true,
}

// svgFunctions are the functional notations a property value may use
// besides url(): colours, and clip's rect().
var svgFunctions = map[string]bool{"rgb": true, "rgba": true, "hsl": true, "hsla": true, "rect": true}

// svgTransforms are the functions of transform and gradientTransform.
var svgTransforms = map[string]bool{"matrix": true, "translate": true, "scale": true, "rotate": true, "skewx": true, "skewy": true}

// svgNode is one kept element, or a run of text (name "").
type svgNode struct {
	name    string
	attrs   []svgAttr
	kids    []*svgNode
	text    []byte
	id      string
	classes []string
	refs    svgRefs
	href    string  // a <use>'s target id
	chars   int64   // a <text> element's characters, its tspans' included
	verts   int64   // vertices of a path, polyline, polygon or line, over-counted: markers are drawn at each
	crosses float64 // its segments' crossings, estimated (pathCrossings)
	count   *svgCount
	busy    bool // being counted: reached again, it is a reference loop
}

type svgAttr struct{ name, value string }

// svgRefs is what can make an element cost more than itself.
type svgRefs struct {
	layer   bool     // opacity < 1
	paints  []string // ids of fill and stroke paint servers (gradients)
	masks   []string // ids
	clips   []string
	markers []string
}

func (r *svgRefs) merge(o svgRefs) {
	r.layer = r.layer || o.layer
	r.paints = appendNew(r.paints, o.paints...)
	r.masks = appendNew(r.masks, o.masks...)
	r.clips = appendNew(r.clips, o.clips...)
	r.markers = appendNew(r.markers, o.markers...)
}

func appendNew(s []string, ids ...string) []string {
	for _, id := range ids {
		found := false
		for _, x := range s {
			found = found || x == id
		}
		if !found {
			s = append(s, id)
		}
	}
	return s
}

type svgParser struct {
	maxPixels int64
	out       SVG
	ids       map[string]*svgNode
	rules     map[string]*svgRefs // by the key of a <style> rule's subject: "#id", ".class", "type" or "*"
	nRules    int
}

// CanonicalSVG parses an SVG document and writes it out again from an
// allowlist (svgElements, svgAttributes, svgProperties), with no DOCTYPE,
// entity, processing instruction, comment or CDATA section, the five XML
// entities and character references written as escapes, references only
// to #fragments of the document itself and embedded rasters only as
// data:image/png|jpeg|gif|webp;base64 URIs whose header was read.
//
// It refuses with ErrUnsupported what it cannot parse or account for: a
// document that is not well-formed XML, declares a DOCTYPE with an
// internal subset or other declarations, uses an entity other than XML's
// five, is not rooted at an SVG <svg>, nests elements more than
// maxSVGNesting deep, has a reference loop, or embeds a raster whose size
// its header does not give. It refuses with ErrTooLarge one over a limit:
// embedded raster pixels over maxPixels (limits.max_source_pixels), more
// elements, drawn elements, masks or nested layers than the maxSVG
// constants, or a canonical document over MaxSVGBytes.
//
// What it drops is drawn by no one: external references (http:, file:,
// relative), data: URIs of any type but the four rasters (an SVG inside
// an SVG included), and the elements and attributes outside the allowlist.
func CanonicalSVG(src []byte, maxPixels int64) (*SVG, error) {
	p := &svgParser{maxPixels: maxPixels, ids: map[string]*svgNode{}, rules: map[string]*svgRefs{}}
	root, err := p.parse(bytes.TrimPrefix(src, []byte("\xef\xbb\xbf")))
	if err != nil {
		return nil, err
	}
	p.resolve(root)
	c, err := p.countNode(root, 1)
	if err != nil {
		return nil, err
	}
	p.out.Instances, p.out.Layers, p.out.Masks, p.out.LayerDepth, p.out.TextWork = c.inst, c.layers, c.masks, c.layerDepth, c.text
	p.out.Paints = c.paints
	p.out.PathVerts, p.out.PathWork, p.out.PathCrossings = c.pathVerts, c.pathWork, int64(c.crosses)
	switch {
	case c.inst > maxSVGInstances:
		return nil, fmt.Errorf("%w: the SVG draws %d elements once its <use>, marker, mask and clip-path references are followed, above the %d the edge renders",
			ErrTooLarge, c.inst, maxSVGInstances)
	case c.masks > maxSVGMasks:
		return nil, fmt.Errorf("%w: the SVG draws %d masks, above the %d the edge renders", ErrTooLarge, c.masks, maxSVGMasks)
	case c.layers > maxSVGLayers:
		return nil, fmt.Errorf("%w: the SVG draws %d translucent elements (opacity below 1), above the %d the edge renders", ErrTooLarge, c.layers, maxSVGLayers)
	case c.layerDepth > maxSVGLayerDepth:
		return nil, fmt.Errorf("%w: the SVG nests translucent groups and masks %d deep, above the %d the edge renders", ErrTooLarge, c.layerDepth, maxSVGLayerDepth)
	}
	var w bytes.Buffer
	writeSVG(&w, root, true)
	if w.Len() > MaxSVGBytes {
		return nil, fmt.Errorf("%w: the SVG is %d bytes once rewritten, above the %d the edge renders", ErrTooLarge, w.Len(), MaxSVGBytes)
	}
	if !utf8.Valid(w.Bytes()) {
		return nil, fmt.Errorf("%w: the SVG document is not valid UTF-8", ErrUnsupported)
	}
	if period := shortestDashPeriod(w.Bytes()); period > 0 {
		viewport, font, fontOK := svgSizes(w.Bytes(), maxSVGCanvas)
		length, ok := c.outline.length(viewport, font, fontOK && !svgFontShorthand.Match(w.Bytes()))
		if !ok {
			return nil, fmt.Errorf("%w: the SVG dashes outlines (stroke-dasharray) and sizes text or shapes by fonts whose size is relative (em, %%) or by lengths the edge cannot read, so the dashes it strokes cannot be bounded; give those lengths in user units or drop the dash array",
				ErrTooLarge)
		}
		dashes := length / period
		if dashes > maxSVGDashes {
			return nil, fmt.Errorf("%w: the SVG strokes up to %.0f dashes (outlines up to %.0f units long, a dash pattern repeating every %g), above the %d the edge renders",
				ErrTooLarge, dashes, length, period, maxSVGDashes)
		}
		p.out.Dashes = int64(dashes)
	}
	p.out.Doc = w.Bytes()
	return &p.out, nil
}

// frame is an open element of the source: its kept node, or nil when it is
// dropped with everything inside it.
type frame struct {
	node    *svgNode
	textual bool // its character data is kept (text content, a stylesheet)
}

// errDTD refuses what could declare entities or attribute defaults.
var errDTD = fmt.Errorf("%w: the SVG document has a DOCTYPE with an internal subset or another declaration (entities, attribute defaults); the edge renders only plain SVG", ErrUnsupported)

func (p *svgParser) parse(src []byte) (*svgNode, error) {
	if internalSubset(src) {
		return nil, errDTD
	}
	d := xml.NewDecoder(bytes.NewReader(src))
	d.Strict = true
	d.CharsetReader = latin1Reader
	var (
		root  *svgNode
		stack []frame
		ended bool
	)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, malformedSVG(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if ended {
				return nil, fmt.Errorf("%w: the SVG document has elements after its root", ErrUnsupported)
			}
			if len(stack) >= maxSVGNesting {
				return nil, fmt.Errorf("%w: the SVG nests elements more than %d deep", ErrUnsupported, maxSVGNesting)
			}
			if len(stack) == 0 && (!isSVGSpace(t.Name.Space) || t.Name.Local != "svg") {
				return nil, fmt.Errorf("%w: the document's root is not an SVG <svg> element (in the SVG namespace)", ErrUnsupported)
			}
			var f frame
			if len(stack) == 0 || stack[len(stack)-1].node != nil {
				inText := len(stack) > 0 && stack[len(stack)-1].textual
				n, err := p.element(t, inText)
				if err != nil {
					return nil, err
				}
				if n != nil {
					if p.out.Elements++; p.out.Elements > maxSVGElements {
						return nil, fmt.Errorf("%w: the SVG has more than %d elements", ErrTooLarge, maxSVGElements)
					}
					f = frame{node: n, textual: n.name == "text" || n.name == "style" || inText && n.name != "style"}
					if len(stack) == 0 {
						root = n
					} else {
						parent := stack[len(stack)-1].node
						parent.kids = append(parent.kids, n)
					}
				}
			}
			stack = append(stack, f)
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if f.node != nil && f.node.name == "style" {
				p.stylesheet(f.node)
			}
			if f.node != nil && f.node.name == "text" {
				if f.node.chars = textChars(f.node); f.node.chars > maxSVGTextChars {
					return nil, fmt.Errorf("%w: the SVG has a <text> of %d characters, above the %d the edge lays out", ErrTooLarge, f.node.chars, maxSVGTextChars)
				}
			}
			ended = len(stack) == 0
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1].textual {
				n := stack[len(stack)-1].node
				if k := len(n.kids); k > 0 && n.kids[k-1].name == "" {
					n.kids[k-1].text = append(n.kids[k-1].text, t...)
				} else {
					n.kids = append(n.kids, &svgNode{text: bytes.Clone(t)})
				}
			}
		case xml.Directive:
			if root != nil || !plainDoctype(t) {
				return nil, errDTD
			}
		case xml.Comment, xml.ProcInst:
			// Dropped: nothing in them is drawn, and librsvg would read an
			// xml-stylesheet instruction.
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: the SVG document has no root element", ErrUnsupported)
	}
	return root, nil
}

// textChars counts the characters of n's text, its descendants' included.
func textChars(n *svgNode) int64 {
	c := int64(utf8.RuneCount(n.text))
	for _, k := range n.kids {
		c += textChars(k)
	}
	return c
}

// malformedSVG says why a document does not parse without quoting it.
func malformedSVG(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		if strings.Contains(se.Msg, "entity") {
			return fmt.Errorf("%w: the SVG document uses an entity other than XML's five (&amp; &lt; &gt; &quot; &apos;), line %d", ErrUnsupported, se.Line)
		}
		return fmt.Errorf("%w: the SVG document is not well-formed XML (line %d)", ErrUnsupported, se.Line)
	}
	return fmt.Errorf("%w: the SVG document does not parse (its encoding must be UTF-8 or ISO-8859-1)", ErrUnsupported)
}

// internalSubset reads the prolog as XML does (declaration, comments,
// processing instructions, then the DOCTYPE's name and quoted identifiers)
// and reports a DOCTYPE with an internal subset. encoding/xml scans a
// directive for its end by quotes and brackets alone, so a processing
// instruction holding a quote inside the subset misleads it; this reading
// names the document's fault whatever encoding/xml then makes of it.
func internalSubset(b []byte) bool {
	for {
		b = bytes.TrimLeft(b, " \t\r\n")
		switch {
		case bytes.HasPrefix(b, []byte("<?")):
			i := bytes.Index(b, []byte("?>"))
			if i < 0 {
				return false
			}
			b = b[i+2:]
		case bytes.HasPrefix(b, []byte("<!--")):
			i := bytes.Index(b[4:], []byte("-->"))
			if i < 0 {
				return false
			}
			b = b[4+i+3:]
		case bytes.HasPrefix(b, []byte("<!DOCTYPE")):
			b = b[len("<!DOCTYPE"):]
			for len(b) > 0 {
				switch c := b[0]; c {
				case '[':
					return true
				case '>':
					return false
				case '"', '\'':
					i := bytes.IndexByte(b[1:], c)
					if i < 0 {
						return false
					}
					b = b[i+2:]
				default:
					b = b[1:]
				}
			}
			return false
		default:
			return false
		}
	}
}

// plainDoctype accepts <!DOCTYPE name>, with a PUBLIC or SYSTEM identifier
// and nothing else: the declaration is dropped, and anything that could
// declare entities or attribute defaults refused.
func plainDoctype(d []byte) bool {
	fields, ok := splitQuoted(string(d))
	if !ok || len(fields) < 2 || fields[0] != "DOCTYPE" || !isName(fields[1]) {
		return false
	}
	rest := fields[2:]
	switch {
	case len(rest) == 0:
		return true
	case rest[0] == "SYSTEM":
		return len(rest) == 2 && isLiteral(rest[1])
	case rest[0] == "PUBLIC":
		return (len(rest) == 2 || len(rest) == 3) && isLiteral(rest[1]) && (len(rest) == 2 || isLiteral(rest[2]))
	}
	return false
}

// splitQuoted splits on white space, keeping quoted literals (with their
// quotes) whole.
func splitQuoted(s string) ([]string, bool) {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return out, true
		}
		if q := s[0]; q == '"' || q == '\'' {
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return nil, false
			}
			out = append(out, s[:end+2])
			s = s[end+2:]
			continue
		}
		end := strings.IndexAny(s, " \t\r\n")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
}

func isLiteral(s string) bool {
	return len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && !strings.ContainsAny(s, "<>[]%&")
}

func isName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9')) {
			return false
		}
	}
	return s != ""
}

// latin1Reader decodes ISO-8859-1 (and ASCII, its subset); every other
// declared encoding is refused.
func latin1Reader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "us-ascii", "ascii":
	default:
		return nil, fmt.Errorf("encoding %q", label)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return bytes.NewReader(out), nil
}

// element keeps t when it is an allowed SVG element and returns its node
// with the attributes kept, or nil to drop it and its content.
func (p *svgParser) element(t xml.StartElement, inText bool) (*svgNode, error) {
	if !isSVGSpace(t.Name.Space) {
		return nil, nil
	}
	name := t.Name.Local
	if _, ok := svgElements[name]; !ok {
		return nil, nil
	}
	n := &svgNode{name: name}
	href, xhref, err := p.attributes(n, t.Attr)
	if err != nil {
		return nil, err
	}
	if name == "line" {
		n.verts = 2
	}
	if href == nil {
		href = xhref // SVG 2: href wins over xlink:href
	}
	return p.linked(n, href, inText)
}

// attributes keeps n's vetted attributes, and returns its href and
// xlink:href for linked to vet.
func (p *svgParser) attributes(n *svgNode, attrs []xml.Attr) (href, xhref *string, err error) {
	seen := make(map[xml.Name]bool, len(attrs))
	for _, a := range attrs {
		if seen[a.Name] {
			return nil, nil, fmt.Errorf("%w: the SVG repeats an attribute on one element", ErrUnsupported)
		}
		seen[a.Name] = true
		v := a.Value
		switch a.Name.Space {
		case "xmlns":
			continue
		case xlinkNS:
			if a.Name.Local == "href" {
				xhref = &v
			}
			continue
		case xmlNS:
			if a.Name.Local == "space" && (v == "preserve" || v == "default") {
				n.attrs = append(n.attrs, svgAttr{"xml:space", v})
			}
			continue
		case "":
		default:
			continue // another vocabulary's (inkscape:, sodipodi:, ...)
		}
		if a.Name.Local == "href" {
			href = &v
			continue
		}
		p.attribute(n, a.Name.Local, v)
	}
	return href, xhref, nil
}

// attribute keeps one attribute of no namespace when it is vetted.
func (p *svgParser) attribute(n *svgNode, local, v string) {
	switch {
	case local == "xmlns":
	case local == "style":
		decls, refs := styleDeclarations(v, true)
		n.refs.merge(refs)
		if decls != "" {
			n.attrs = append(n.attrs, svgAttr{"style", decls})
		}
	case svgProperties[local] && local != "marker" && local != "font":
		value, refs, ok := property(local, v, true)
		if ok {
			n.refs.merge(refs)
			n.attrs = append(n.attrs, svgAttr{local, value})
		}
	case svgAttributes[local]:
		if !attributeValueOK(local, v) {
			return
		}
		switch local {
		case "id":
			if _, dup := p.ids[v]; dup || v == "" {
				return // librsvg finds the first element of an id
			}
			p.ids[v] = n
			n.id = v
		case "class":
			n.classes = strings.Fields(v)
		case "d", "points":
			n.verts, n.crosses = vertices(v), pathCrossings(v)
		}
		n.attrs = append(n.attrs, svgAttr{local, v})
	}
}

// linked keeps what n links to when the link is allowed: a fragment of
// this document, or an image's vetted data: raster; nil drops n.
func (p *svgParser) linked(n *svgNode, href *string, inText bool) (*svgNode, error) {
	switch n.name {
	case "a":
		if !inText {
			n.name = "g" // a link is a group that goes nowhere here
		}
	case "use":
		id, ok := fragment(href)
		if !ok {
			return nil, nil // only this document's elements are drawn
		}
		n.href = id
		n.attrs = append(n.attrs, svgAttr{"xlink:href", "#" + id})
	case "image":
		if href == nil {
			return nil, nil
		}
		data, err := p.embed(*href)
		if err != nil || data == "" {
			return nil, err
		}
		n.attrs = append(n.attrs, svgAttr{"xlink:href", data})
	case "linearGradient", "radialGradient", "textPath":
		if id, ok := fragment(href); ok {
			n.attrs = append(n.attrs, svgAttr{"xlink:href", "#" + id})
		}
	case "style":
		n.attrs = nil
	}
	return n, nil
}

// isSVGSpace reports the SVG namespace, or none: librsvg draws elements in
// no namespace as SVG (a document without xmlns is drawn), and the
// canonical document puts them in the SVG namespace.
func isSVGSpace(space string) bool { return space == svgNS || space == "" }

// fragment is the id of a same-document reference "#id".
func fragment(href *string) (string, bool) {
	if href == nil {
		return "", false
	}
	s := strings.TrimSpace(*href)
	if len(s) < 2 || s[0] != '#' || strings.ContainsAny(s[1:], " \t\r\n#()\\") {
		return "", false
	}
	return s[1:], true
}

// attributeValueOK vets a non-property attribute: only the transform
// attributes have functions, and those only the transform functions.
func attributeValueOK(name, v string) bool {
	if name == "id" || name == "class" {
		return !strings.ContainsAny(v, "\\")
	}
	if name == "transform" || name == "gradientTransform" {
		return functionsOK(v, svgTransforms, false)
	}
	return !strings.ContainsAny(v, "()\\")
}

// functionsOK reports whether every function in v is in allowed (or url,
// with url).
func functionsOK(v string, allowed map[string]bool, url bool) bool {
	for i := 0; i < len(v); i++ {
		if v[i] != '(' {
			continue
		}
		j := i
		for j > 0 && (isIdentByte(v[j-1])) {
			j--
		}
		fn := strings.ToLower(v[j:i])
		if !(allowed[fn] || url && fn == "url") {
			return false
		}
	}
	return true
}

func isIdentByte(c byte) bool {
	return c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// property vets one property's value: no escapes, comments or blocks, only
// the colour functions, and url() only as url(#id) on the properties that
// take one. It returns the value to write and the references it makes.
func property(name, v string, refsAllowed bool) (string, svgRefs, bool) {
	var refs svgRefs
	v = strings.TrimSpace(v)
	if v == "" || strings.ContainsAny(v, "\\<>{};@\x00") || strings.Contains(v, "/*") {
		return "", refs, false
	}
	if !functionsOK(v, svgFunctions, svgRefProperties[name] && refsAllowed) {
		return "", refs, false
	}
	lower := strings.ToLower(v)
	if i := strings.Index(lower, "url("); i >= 0 {
		if strings.Contains(lower[i+4:], "url(") {
			return "", refs, false
		}
		end := strings.IndexByte(v[i:], ')')
		if end < 0 {
			return "", refs, false
		}
		arg := strings.Trim(strings.TrimSpace(v[i+4:i+end]), `"'`)
		id, ok := fragment(&arg)
		if !ok {
			return "", refs, false
		}
		switch name {
		case "fill", "stroke":
			refs.paints = []string{id}
		case "mask":
			refs.masks = []string{id}
		case "clip-path":
			refs.clips = []string{id}
		case "marker", "marker-start", "marker-mid", "marker-end":
			refs.markers = []string{id}
		}
		v = v[:i] + "url(#" + id + ")" + v[i+end+1:]
	}
	if name == "opacity" {
		refs.layer = translucent(v)
	}
	return v, refs, true
}

// translucent reports an opacity below 1, or one that does not parse.
func translucent(v string) bool {
	v = strings.TrimSpace(v)
	scale := 1.0
	if s, ok := strings.CutSuffix(v, "%"); ok {
		v, scale = s, 100
	}
	f, err := strconv.ParseFloat(v, 64)
	return err != nil || f/scale < 1
}

// styleDeclarations vets a declaration block (a style attribute's, or a
// rule's) and writes it back with the declarations kept.
func styleDeclarations(block string, refsAllowed bool) (string, svgRefs) {
	var out strings.Builder
	var refs svgRefs
	for _, decl := range strings.Split(block, ";") {
		name, value, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !svgProperties[name] {
			continue
		}
		value = strings.TrimSpace(value)
		important := ""
		if i := strings.LastIndexByte(value, '!'); i >= 0 && strings.EqualFold(strings.TrimSpace(value[i+1:]), "important") {
			value, important = strings.TrimSpace(value[:i]), "!important"
		}
		v, r, ok := property(name, value, refsAllowed)
		if !ok {
			continue
		}
		refs.merge(r)
		if out.Len() > 0 {
			out.WriteByte(';')
		}
		out.WriteString(name + ":" + v + important)
	}
	return out.String(), refs
}

// stylesheet rewrites a <style> element's text from the rules it can vet:
// selectors of element names, classes, ids and *, joined by descendant and
// child combinators; declarations vetted as in a style attribute. At-rules
// (@import, @font-face, @media, ...) are dropped. For pricing, a rule
// applies to every element its subject's most specific part matches.
func (p *svgParser) stylesheet(n *svgNode) {
	var css []byte
	for _, k := range n.kids {
		css = append(css, k.text...)
	}
	var out strings.Builder
	s := stripCSSComments(string(css))
	for {
		s = strings.TrimLeft(s, " \t\r\n\f")
		if s == "" || p.nRules >= maxSVGRules {
			break
		}
		if s[0] == '@' {
			s = skipAtRule(s)
			continue
		}
		open := strings.IndexByte(s, '{')
		if open < 0 {
			break
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			break
		}
		prelude, block := s[:open], s[open+1:open+end]
		s = s[open+end+1:]
		if strings.ContainsRune(block, '{') {
			continue // a nested block: not a rule of the subset
		}
		keys, ok := selectorKeys(prelude)
		if !ok {
			continue
		}
		decls, refs := styleDeclarations(block, true)
		if decls == "" {
			continue
		}
		p.nRules++
		for _, k := range keys {
			if p.rules[k] == nil {
				p.rules[k] = &svgRefs{}
			}
			p.rules[k].merge(refs)
		}
		out.WriteString(strings.Join(strings.Fields(prelude), " ") + "{" + decls + "}\n")
	}
	n.kids = nil
	if out.Len() > 0 {
		n.kids = []*svgNode{{text: []byte(out.String())}}
	}
}

func stripCSSComments(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "/*")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		j := strings.Index(s[i+2:], "*/")
		if j < 0 {
			return b.String()
		}
		b.WriteByte(' ')
		s = s[i+2+j+2:]
	}
}

// skipAtRule drops an at-rule: to its semicolon, or past its block.
func skipAtRule(s string) string {
	semi, open := strings.IndexByte(s, ';'), strings.IndexByte(s, '{')
	if open < 0 || semi >= 0 && semi < open {
		if semi < 0 {
			return ""
		}
		return s[semi+1:]
	}
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}

// selectorKeys vets a selector list and returns, for each selector, the
// key of its subject's most specific part: "#id", ".class", the element
// name, or "*".
func selectorKeys(prelude string) ([]string, bool) {
	var keys []string
	for _, sel := range strings.Split(prelude, ",") {
		sel = strings.ReplaceAll(sel, ">", " ")
		parts := strings.Fields(sel)
		if len(parts) == 0 || len(parts) > 8 {
			return nil, false
		}
		var key string
		for _, compound := range parts {
			k, ok := compoundKey(compound)
			if !ok {
				return nil, false
			}
			key = k
		}
		keys = append(keys, key)
	}
	return keys, true
}

func compoundKey(c string) (string, bool) {
	typ, id, class := "*", "", ""
	for i := 0; i < len(c); {
		lead := c[i]
		if lead == '*' {
			i++
			continue
		}
		j := i
		if lead == '.' || lead == '#' {
			j++
		}
		start := j
		for j < len(c) && isIdentByte(c[j]) {
			j++
		}
		if j == start {
			return "", false
		}
		switch lead {
		case '.':
			if class == "" {
				class = c[start:j]
			}
		case '#':
			id = c[start:j]
		default:
			if i != 0 {
				return "", false
			}
			typ = c[start:j]
		}
		i = j
	}
	switch {
	case id != "":
		return "#" + id, true
	case class != "":
		return "." + class, true
	}
	return typ, true
}

// vertices over-counts the vertices of path data or a points list: one for
// each number and each command letter.
func vertices(d string) int64 {
	var n int64
	inNum := false
	for i := 0; i < len(d); i++ {
		c := d[i]
		digit := c >= '0' && c <= '9'
		if digit && !inNum {
			n++
		}
		inNum = digit
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' {
			if c != 'e' && c != 'E' {
				n++
			}
		}
	}
	return n
}

// embed vets an <image>'s reference: a data URI of a PNG, JPEG, GIF or
// WebP whose size its header gives is priced and rewritten as base64 with
// the type its bytes have; any other reference is dropped ("", nil).
func (p *svgParser) embed(href string) (string, error) {
	href = strings.TrimSpace(href)
	if len(href) < 5 || !strings.EqualFold(href[:5], "data:") {
		return "", nil // external or relative: never loaded
	}
	meta, payload, ok := strings.Cut(href[5:], ",")
	if !ok {
		return "", nil
	}
	params := strings.Split(meta, ";")
	switch strings.ToLower(strings.TrimSpace(params[0])) {
	case "image/png", "image/jpeg", "image/jpg", "image/pjpeg", "image/gif", "image/webp":
	default:
		return "", nil // an SVG, HTML, XML, BMP, ...: not drawn
	}
	b64 := strings.EqualFold(strings.TrimSpace(params[len(params)-1]), "base64")
	raw, err := dataBytes(payload, b64)
	if err != nil {
		return "", err
	}
	px, mime, err := rasterPixels(raw)
	if err != nil {
		return "", err
	}
	if p.out.EmbeddedPixels += px; p.out.EmbeddedPixels > p.maxPixels {
		return "", fmt.Errorf("%w: the SVG embeds rasters of %d pixels or more, above limits.max_source_pixels (%d)",
			ErrTooLarge, p.out.EmbeddedPixels, p.maxPixels)
	}
	return "data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(raw), nil
}

// rasterPixels is what decoding an embedded raster takes, from its header:
// width x height, and for a GIF the logical screen and every frame, which
// gdk-pixbuf decodes each at its own size.
func rasterPixels(raw []byte) (int64, string, error) {
	unreadable := fmt.Errorf("%w: the SVG embeds an image whose size cannot be read (PNG, JPEG, GIF and WebP can be)", ErrUnsupported)
	var mime string
	switch Sniff(raw) {
	case FormatPNG:
		mime = "image/png"
		// gdk-pixbuf's libpng inflates the text chunks as the source's does.
		if n := PNGCompressedText(raw); n > MaxPNGCompressedText {
			return 0, "", fmt.Errorf("%w: the SVG embeds a PNG of %d compressed text chunks (zTXt, iTXt), more than %d: each is inflated, up to 8 MB, before a pixel is read",
				ErrTooLarge, n, MaxPNGCompressedText)
		}
	case FormatJPEG:
		mime = "image/jpeg"
	case FormatGIF:
		mime = "image/gif"
	case FormatWebP:
		mime = "image/webp"
	default:
		return 0, "", unreadable
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, "", unreadable
	}
	px := int64(cfg.Width) * int64(cfg.Height)
	if mime == "image/gif" {
		px += gifFramePixels(raw)
	}
	return px, mime, nil
}

// gifFramePixels sums the sizes of a GIF's frames, from their descriptors.
func gifFramePixels(b []byte) int64 {
	var total int64
	walkGIF(b, func(w, h int, _ byte) { total += int64(w) * int64(h) })
	return total
}

// dataBytes decodes a data URI's payload: base64 (white space inside it,
// as editors wrap it, and missing padding are accepted) or percent-encoded.
func dataBytes(payload string, b64 bool) ([]byte, error) {
	if !b64 {
		s, err := url.PathUnescape(payload)
		if err != nil {
			return nil, fmt.Errorf("%w: the SVG embeds a data URI that is not valid", ErrUnsupported)
		}
		return []byte(s), nil
	}
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '\f':
			return -1
		}
		return r
	}, payload)
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(clean, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: the SVG embeds a data URI that is not valid base64", ErrUnsupported)
	}
	return raw, nil
}

// resolve adds what <style> rules may apply to each element to its own
// references.
func (p *svgParser) resolve(n *svgNode) {
	if n.name == "" {
		return
	}
	if len(p.rules) > 0 {
		for _, k := range append([]string{"*", n.name, "#" + n.id}, classKeys(n.classes)...) {
			if r := p.rules[k]; r != nil {
				n.refs.merge(*r)
			}
		}
	}
	for _, k := range n.kids {
		p.resolve(k)
	}
}

func classKeys(classes []string) []string {
	keys := make([]string, len(classes))
	for i, c := range classes {
		keys[i] = "." + c
	}
	return keys
}

// svgCount is what drawing an element takes, everything it draws included.
type svgCount struct {
	inst, verts, layers, masks, text int64
	paints                           int64   // SVG.Paints
	pathVerts, pathWork              int64   // SVG.PathVerts, SVG.PathWork
	outline                          outline // the drawn elements' outlines, an upper bound (geometryLength)
	crosses                          float64 // SVG.PathCrossings
	layerDepth                       int
	height                           int // elements and references below, itself included
}

// sat bounds the sums: far above every limit, far below overflow.
const sat = 1 << 40

func (c *svgCount) add(o svgCount, times int64) {
	mul := func(a int64) int64 {
		if times > 0 && a > sat/times {
			return sat
		}
		return min(a*times, sat)
	}
	c.inst = min(c.inst+mul(o.inst), sat)
	c.layers = min(c.layers+mul(o.layers), sat)
	c.masks = min(c.masks+mul(o.masks), sat)
	c.paints = min(c.paints+mul(o.paints), sat)
	c.text = min(c.text+mul(o.text), sat)
	c.pathVerts = min(c.pathVerts+mul(o.pathVerts), sat)
	c.pathWork = min(c.pathWork+mul(o.pathWork), sat)
	c.outline.add(o.outline, float64(max(times, 0)))
	c.crosses = min(c.crosses+o.crosses*float64(max(times, 0)), sat)
}

// nonRendered elements are drawn only through a reference.
var nonRendered = map[string]bool{
	"defs": true, "symbol": true, "clipPath": true, "mask": true, "marker": true,
	"linearGradient": true, "radialGradient": true, "stop": true, "style": true,
}

// countNode counts what drawing n takes: itself, its drawn children, and
// the content of what it references (a <use>'s target; its clip path and
// mask; its markers, once per vertex of everything below it, as markers
// are inherited). depth is the chain of elements and references followed.
func (p *svgParser) countNode(n *svgNode, depth int) (svgCount, error) {
	tooDeep := fmt.Errorf("%w: the SVG nests elements and references more than %d deep", ErrUnsupported, maxSVGDepth)
	if depth > maxSVGDepth {
		return svgCount{}, tooDeep
	}
	if n.count != nil {
		if depth+n.count.height-1 > maxSVGDepth {
			return svgCount{}, tooDeep
		}
		return *n.count, nil
	}
	if n.busy {
		return svgCount{}, fmt.Errorf("%w: the SVG has a reference loop (<use>, mask, clip-path or marker); remove it", ErrUnsupported)
	}
	n.busy = true
	c := svgCount{inst: 1, verts: n.verts, text: n.chars * n.chars,
		pathVerts: n.verts, pathWork: int64(float64(n.verts) * math.Sqrt(float64(n.verts))), outline: geometryLength(n),
		crosses: n.crosses}
	inner, below := 0, 0 // surfaces held, and the height, below this element
	follow := func(target *svgNode, times int64, own int) error {
		tc, err := p.countNode(target, depth+1)
		if err != nil {
			return err
		}
		c.add(tc, times)
		inner, below = max(inner, tc.layerDepth+own), max(below, tc.height)
		return nil
	}
	for _, k := range n.kids {
		if k.name == "" || nonRendered[k.name] {
			continue
		}
		kc, err := p.countNode(k, depth+1)
		if err != nil {
			return c, err
		}
		c.add(kc, 1)
		c.verts = min(c.verts+kc.verts, sat)
		inner, below = max(inner, kc.layerDepth), max(below, kc.height)
	}
	if t := p.ids[n.href]; n.name == "use" && t != nil {
		tc, err := p.countNode(t, depth+1)
		if err != nil {
			return c, err
		}
		c.add(tc, 1)
		c.verts = min(c.verts+tc.verts, sat)
		inner, below = max(inner, tc.layerDepth), max(below, tc.height)
	}
	for _, id := range n.refs.clips {
		if t := p.ids[id]; t != nil && t.name == "clipPath" {
			if err := follow(t, 1, 0); err != nil {
				return c, err
			}
		}
	}
	own := 0
	if n.refs.layer {
		c.layers++
		own++
	}
	for _, id := range n.refs.paints {
		// A gradient is computed for every pixel the shape
		// covers: 200 canvas-sized rectangles with a radial gradient drew
		// for 11.1 s where solid fills took a fifth of their price. Set on
		// a group (or by a rule matching it), every element drawn inside
		// paints it: 100 rectangles in a <g fill="url(#g)"> had cost five
		// times their price.
		if t := p.ids[id]; t != nil && (t.name == "linearGradient" || t.name == "radialGradient") {
			c.paints = max(c.paints, c.inst)
		}
	}
	for _, id := range n.refs.masks {
		if t := p.ids[id]; t != nil && t.name == "mask" {
			c.masks++
			own = max(own, 2) // the content's surface and the mask's
			if err := follow(t, 1, 1); err != nil {
				return c, err
			}
		}
	}
	for _, id := range n.refs.markers {
		if t := p.ids[id]; t != nil && t.name == "marker" {
			if err := follow(t, max(c.verts, 1), 0); err != nil {
				return c, err
			}
		}
	}
	c.layerDepth, c.height = own+inner, 1+below
	n.busy, n.count = false, &c
	return c, nil
}

// writeSVG writes n and what it holds: element and attribute names from the
// allowlists, values and text escaped.
func writeSVG(w *bytes.Buffer, n *svgNode, root bool) {
	if n.name == "" {
		escapeText(w, n.text)
		return
	}
	w.WriteString("<" + n.name)
	if root {
		w.WriteString(` xmlns="` + svgNS + `" xmlns:xlink="` + xlinkNS + `"`)
	}
	for _, a := range n.attrs {
		w.WriteString(" " + a.name + `="`)
		escapeAttr(w, a.value)
		w.WriteByte('"')
	}
	if len(n.kids) == 0 {
		w.WriteString("/>")
		return
	}
	w.WriteByte('>')
	for _, k := range n.kids {
		writeSVG(w, k, false)
	}
	w.WriteString("</" + n.name + ">")
}

func escapeText(w *bytes.Buffer, s []byte) {
	for _, c := range s {
		switch c {
		case '&':
			w.WriteString("&amp;")
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '\r':
			w.WriteString("&#13;")
		default:
			w.WriteByte(c)
		}
	}
}

func escapeAttr(w *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			w.WriteString("&amp;")
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '"':
			w.WriteString("&quot;")
		case '\t':
			w.WriteString("&#9;")
		case '\n':
			w.WriteString("&#10;")
		case '\r':
			w.WriteString("&#13;")
		default:
			w.WriteByte(c)
		}
	}
}
