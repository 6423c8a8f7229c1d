package libvips

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"strings"
	"time"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
	"imgedge/transform/faces"
)

// sniff names the source's format with the edge's one sniffer
// (transform.Sniff, and IsSVG for SVG), so a variant is refused exactly
// when the original is not an image the edge serves. Anything else (PDF,
// BMP, and whatever libvips would only read through ImageMagick) is
// refused before libvips sees it.
func sniff(src []byte) (transform.Format, error) {
	if f := transform.Sniff(src); f != transform.FormatSource {
		return f, nil
	}
	if transform.IsSVG(src) {
		return transform.FormatSVG, nil
	}
	return 0, fmt.Errorf("%w: the source is not a recognised image (%d bytes); use JPEG, PNG, WebP, GIF, AVIF, HEIF, JPEG XL, TIFF or SVG",
		transform.ErrUnsupported, len(src))
}

// maxSVGBytes bounds a decompressed SVGZ: a vector document beyond this is a
// bomb, not artwork.
const maxSVGBytes = 8 << 20

// prepare sniffs and checks the source, returning the bytes libvips may see.
// SVGZ is inflated here, bounded, and must hold an SVG document: libvips
// 8.14's own gzip path can spin forever on a crafted file
// (hostile/libvips-truncated.svgz).
func prepare(src []byte) ([]byte, transform.Format, error) {
	if transform.IsGzip(src) {
		zr, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: gzip data that does not inflate", transform.ErrUnsupported)
		}
		svg, err := io.ReadAll(io.LimitReader(zr, maxSVGBytes+1))
		if err != nil || len(svg) > maxSVGBytes || !transform.IsSVG(svg) {
			return nil, 0, fmt.Errorf("%w: gzip data that is not an SVG document under %d bytes", transform.ErrUnsupported, maxSVGBytes)
		}
		src = svg
	}
	f, err := sniff(src)
	if err != nil {
		return nil, 0, err
	}
	if err := transform.CheckIntegrity(src); err != nil {
		return nil, 0, err
	}
	if err := boundedText(src, "the source"); err != nil {
		return nil, 0, err
	}
	return src, f, nil
}

// boundedText refuses a PNG (what: the source, the mark) of more
// compressed text chunks than transform.MaxPNGCompressedText: libpng
// inflates them all while reading the header, before the render is priced.
func boundedText(b []byte, what string) error {
	if n := transform.PNGCompressedText(b); n > transform.MaxPNGCompressedText {
		return fmt.Errorf("%w: %s is a PNG of %d compressed text chunks (zTXt, iTXt), more than %d: the decoder inflates every one before a pixel is read; strip its metadata",
			transform.ErrTooLarge, what, n, transform.MaxPNGCompressedText)
	}
	return nil
}

type loadOptions struct {
	shrink int  // shrink-on-load factor (JPEG's DCT scaling, WebP's rescaler)
	thumb  bool // a HEIF's embedded thumbnail, which covers the size needed
	frame  int  // 1-based page; 0: the first
	all    bool // every page (animation)
	dpi    int  // SVG rasterisation density; 0: 72 (natural size)
}

// load reads a raster source (or a watermark, FormatSource) through libvips.
// An SVG never comes this way: libvips would hand whatever bytes it is given
// to librsvg, so bytes that do not sniff as a raster are refused here and
// an SVG is drawn only from its canonical document (loadSVG).
func load(src []byte, f transform.Format, o loadOptions) (*vips.ImageRef, error) {
	if f == transform.FormatSVG || transform.Sniff(src) == transform.FormatSource {
		return nil, fmt.Errorf("%w: the bytes to load are not a raster image the edge sniffed", transform.ErrUnsupported)
	}
	if f == transform.FormatWebP && o.shrink > 1 {
		return loadWebPScaled(src, o.shrink)
	}
	p := vips.NewImportParams()
	if o.thumb {
		p.HeifThumbnail.Set(true)
	}
	// Truncation is refused by transform.CheckIntegrity; failing on every
	// libvips warning would also refuse files browsers display (stray bytes
	// before a JPEG marker, a bad ancillary PNG chunk).
	p.FailOnError.Set(false)
	if o.shrink > 1 {
		p.JpegShrinkFactor.Set(o.shrink)
	}
	if o.frame > 0 {
		p.Page.Set(o.frame - 1)
	}
	if o.all {
		p.NumPages.Set(-1)
	}
	img, err := vipsLoadBuffer(src, p)
	if err != nil {
		return nil, vipsError("load", err)
	}
	return img, nil
}

// loadSVG rasterises the document CanonicalSVG wrote, at o.dpi: the only
// bytes of an SVG source librsvg is given are those the parse priced.
func loadSVG(svg *transform.SVG, o loadOptions) (*vips.ImageRef, error) {
	p := vips.NewImportParams()
	p.FailOnError.Set(false)
	if o.dpi > 0 {
		p.Density.Set(o.dpi)
	}
	img, err := vipsLoadBuffer(svg.Doc, p)
	if err != nil {
		return nil, vipsError("load", err)
	}
	return img, nil
}

// vipsLoadBuffer is govips' loader; tests replace it to see what libvips is
// given.
var vipsLoadBuffer = vips.LoadImageFromBuffer

// loadSource loads the job's source with o: a raster from its bytes, an SVG
// from its canonical document.
func (j *job) loadSource(o loadOptions) (*vips.ImageRef, error) {
	if j.srcFmt == transform.FormatSVG {
		return loadSVG(j.svg, o)
	}
	return load(j.src, j.srcFmt, o)
}

// vipsError classifies a libvips failure. libvips decodes lazily, so a
// corrupt source usually fails in a later operation or in the encoder, not
// at load; with parameters already validated, a failing operation means the
// source's pixels cannot be read. govips appends a Go stack to the message:
// only its first line is kept, for the log.
func vipsError(stage string, err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return &transform.LibraryError{Stage: stage, Detail: strings.TrimSpace(msg)}
}

// animates reports whether the output keeps every frame of an animated
// source: no single frame was asked for, and the output format can hold
// animation (WebP or GIF; AVIF cannot in libvips 8.14).
func animates(spec transform.Spec, src transform.Format) bool {
	// Source crops, borders, face crops, a blurred fill and pixellation's
	// blocks work on one frame: libvips holds an animation as a strip of
	// frames, which they would cut across.
	if spec.Frame != 0 || spec.Rect[2] != 0 || spec.Pad != [4]int{} || spec.ARW != 0 || spec.Trim != 0 || spec.Mark != "" || spec.Format.Facts() ||
		spec.Px > 1 || spec.FillBlur || spec.Fit == transform.FitFaceArea || spec.CropFaces {
		return false
	}
	switch spec.Format {
	case transform.FormatWebP, transform.FormatGIF:
		return true
	case transform.FormatSource:
		return spec.AutoFormat || src == transform.FormatGIF || src == transform.FormatWebP
	}
	return false
}

// job is one render: the source, the request, and what each step of the
// pipeline learns and hands to the next. The image has one owner (the
// goroutine running the steps, one at a time) and is closed explicitly by
// close, whatever step failed.
type job struct {
	orig []byte // the source as fetched
	src  []byte // the source as read (SVGZ inflated); libvips reads it unless an SVG
	// spec is the render's own copy of the variant asked for, which plan
	// completes (ar= without a box, the blurhash box, a hinted size
	// clamped to the output limit); the caller's is never touched.
	spec     transform.Spec
	mark     []byte           // the watermark's bytes; nil: none
	ladder   transform.Ladder // the source's rungs; nil: decode the source
	memo     transform.FaceMemo
	detector *faces.Detector // nil: a job outside a Transformer finds no face
	// found is the faces in the image as it was before the resize, in
	// fractions of it (crop=faces places its box by them); nil: none.
	found    []faces.Box
	cfg      *Config
	srcFmt   transform.Format
	img      *vips.ImageRef
	pages    int            // frames in the source (1 unless an animated GIF or WebP)
	animated bool           // every frame is kept
	plain    bool           // plainSource, judged on the source as loaded
	sw, sh   int            // source size, one frame, as stored
	svg      *transform.SVG // an SVG source as parsed (what is priced), and the canonical document libvips reads
	// jpeg is the scans and coefficient buffer of a JPEG of several scans
	// (zero for any other source), which its decode holds and reads
	// whatever the scale.
	jpeg            transform.JPEGProgression
	markJPEG        transform.JPEGProgression // the same for the watermark
	plan            sizePlan
	rect            [4]int      // rect= within the source (x, y, w, h); w 0: none
	shown           [2]int      // the source's size as displayed (after EXIF orientation), one frame
	bands           int         // the source's bands as decoded; 0: unknown (priced as four)
	sample          int         // bytes of one band of one pixel as decoded
	alpha           bool        // the source has alpha, which govips premultiplies into floats to resize
	cmyk            bool        // the source is CMYK, made sRGB through a profile (lcms) before anything else
	gifPixels       int64       // a GIF's: the pixels of the frames decoded to reach those loaded
	gifRestore      int         // a GIF's: how many of those restore the previous canvas
	coded           int64       // an AVIF's or HEIC's: the pixels its bitstream decodes to, whatever its ispe says
	webpFramePixels int64       // an animated WebP's frame=n: the pixels of the frames decoded to reach it
	webpFrameBytes  int64       // the same frames' coded bytes
	webpFrames      int         // how many frames those are, each blended onto the canvas
	markPixels      int64       // the watermark's, from its header
	markW           int         // the watermark's width, from its header
	opts            loadOptions // how the pipeline loads the source
	oriented        bool        // img is one frame, upright, sRGB (orient ran, or a rung)
	prescale        int         // sources without shrink-on-load: reduced to 1/prescale first (1: not); 0: other sources
	settled         []byte      // the uncompressed TIFF img was last settled into (settle); nil: not settled
	cost            cost
	// grow takes more of the memory budget when a plan made from the pixels
	// (trim) needs more than was reserved, from and to being the two
	// estimates; nil (a job outside a Transformer): unbounded.
	grow func(from, to int64) bool
	// takeHeavy takes a place in the heavy lane, without waiting, for a
	// render a new plan (trim) made heavy; nil (a job outside a
	// Transformer): no lane.
	takeHeavy func() bool
	heavy     bool // it holds a place in the heavy lane
	res       transform.Result
	kill      killSwitch
	stopped   bool                      // its caller gave up on it; guarded by the Transformer's mu
	marks     [stageCount + 1]time.Time // when each step of prelude and pipeline ended, after the start
}

func (j *job) close() {
	if j.img != nil {
		j.img.Close()
		j.img = nil
	}
	j.kill.release()
}

// stageCount is the steps of prelude and pipeline together.
const stageCount = 5

// step is one named stage of a render.
type step struct {
	name string
	run  func(*job) error
}

// prelude reads the header, checks the source limits, plans the sizes and
// prices the render: no pixel is decoded, so a request over a limit is
// refused before it costs anything, and admission can weigh the rest.
var prelude = [...]step{
	{"inspect", inspect},
	{"plan", plan},
}

// pipeline is the rest of a render, in order: load at the size needed, run
// the operations, encode (or keep the source bytes). Each step reads what
// the earlier ones left in the job.
var pipeline = [...]step{
	{"load", loadSized},
	{"process", process},
	{"encode", encodeOrPassthrough},
}

func newJob(src []byte, tj transform.Job, cfg *Config) *job {
	return &job{orig: src, spec: tj.Spec, mark: tj.Mark, ladder: tj.Ladder, memo: tj.Faces, cfg: cfg}
}

// admit runs the prelude.
func (j *job) admit() error {
	j.marks[0] = time.Now()
	for i, st := range prelude {
		if err := st.run(j); err != nil {
			return err
		}
		j.marks[i+1] = time.Now()
	}
	return nil
}

// render runs the pipeline after admit and reports the time of its stages:
// decode (inspect, plan, load), resize (the operations) and encode (which
// pulls every pixel through the lazy pipeline). A killed render reports
// why it was killed, whatever libvips said. An animation whose later frame does
// not decode is served as its first frame, as browsers show what they can
// of it.
func (j *job) render() (transform.Result, error) {
	res, err := j.runPipeline()
	if killed, _ := j.kill.wasKilled(); err != nil && j.animated && errors.Is(err, transform.ErrUnsupported) && !killed {
		j.img.Close()
		j.img = nil
		j.animated, j.opts.all = false, false
		res, err = j.runPipeline()
		if err == nil {
			res.FormatReason += "; a later frame did not decode, first frame only"
		}
	}
	return res, err
}

func (j *job) runPipeline() (transform.Result, error) {
	for i, st := range pipeline {
		if err := st.run(j); err != nil {
			if killed, cause := j.kill.wasKilled(); killed {
				return transform.Result{}, fmt.Errorf("%w; the render was stopped during %s", cause, st.name)
			}
			return transform.Result{}, err
		}
		j.marks[len(prelude)+i+1] = time.Now()
	}
	m := &j.marks
	j.res.Timings = transform.Timings{Decode: m[3].Sub(m[0]), Resize: m[4].Sub(m[3]), Encode: m[5].Sub(m[4])}
	return j.res, nil
}

// inspect checks the source, reads its header (libvips decodes lazily: no
// pixel yet) and refuses it when its pixels, frames or the frame asked for
// are out of bounds.
func inspect(j *job) error {
	var err error
	if j.src, j.srcFmt, err = prepare(j.orig); err != nil {
		return err
	}
	if j.srcFmt == transform.FormatSVG {
		if j.svg, err = transform.CanonicalSVG(j.src, j.cfg.MaxSourcePixels); err != nil {
			return err
		}
	}
	if j.jpeg, err = jpegScans(j.src, "the source"); err != nil {
		return err
	}
	if j.img, err = j.loadSource(loadOptions{frame: j.spec.Frame}); err != nil {
		return err
	}
	j.sw, j.sh = j.img.Width(), j.img.PageHeight()
	if j.srcFmt == transform.FormatAVIF || j.srcFmt == transform.FormatHEIF {
		// libvips' size is the ispe property's: the bitstream decides
		// what is decoded.
		coded, err := transform.HEIFCodedPixels(j.src)
		if err != nil {
			return err
		}
		if coded > j.cfg.MaxSourcePixels {
			return fmt.Errorf("%w: the image's coded data decodes to %d pixels (it claims %dx%d), above limits.max_source_pixels (%d)",
				transform.ErrTooLarge, coded, j.sw, j.sh, j.cfg.MaxSourcePixels)
		}
		j.coded = coded
	}
	j.pages = 1
	if j.srcFmt == transform.FormatGIF || j.srcFmt == transform.FormatWebP {
		j.pages = max(j.img.Pages(), 1)
	}
	px := int64(j.sw) * int64(j.sh)
	switch max := j.cfg.MaxSourcePixels; {
	case px > max:
		return fmt.Errorf("%w: %dx%d is %d pixels, above limits.max_source_pixels (%d)", transform.ErrTooLarge, j.sw, j.sh, px, max)
	case j.spec.Frame > j.pages:
		return fmt.Errorf("%w: frame %d asked of an image with %d", transform.ErrUnsupported, j.spec.Frame, j.pages)
	}
	j.animated = j.pages > 1 && animates(j.spec, j.srcFmt)
	if j.srcFmt == transform.FormatGIF {
		decoded := max(j.spec.Frame, 1)
		if j.animated {
			decoded = j.pages
		}
		j.gifPixels, j.gifRestore = transform.GIFDecodeWork(j.src, decoded)
	}
	if j.srcFmt == transform.FormatWebP && !j.animated && j.spec.Frame > 1 {
		j.webpFramePixels, j.webpFrameBytes, j.webpFrames = transform.WebPFrameWork(j.src, j.spec.Frame)
	}
	if j.animated && int64(j.pages)*px > j.cfg.MaxSourcePixels {
		return fmt.Errorf("%w: %d frames of %dx%d are %d pixels, above limits.max_source_pixels (%d); ask for one frame with frame=1",
			transform.ErrTooLarge, j.pages, j.sw, j.sh, int64(j.pages)*px, j.cfg.MaxSourcePixels)
	}
	j.plain = plainSource(j.img)
	j.res = transform.Result{SourceFormat: j.srcFmt, SourceWidth: j.sw, SourceHeight: j.sh}
	return nil
}

// clampToLimits brings a box over an output limit down to the largest of
// the same shape within it, as imgix does: limits.max_output_pixels for
// every output (the box asked for, and what the fit makes of it with its
// padding), limits.max_output_frames_pixels for an animation's frames
// together, and an explicit fm=avif's or fm=jxl's own limit, so that the
// format asked for is kept. A srcset's 8192w on a 4:3 source, or
// Sec-CH-Width: 9000 on a tall one, answers the largest allowed image
// instead of 422. Padding does not shrink with the box, so a box too small
// for its padding stays over and is refused by the cost check.
func (j *job) clampToLimits(ow, oh int) {
	limit, clamp := j.cfg.MaxOutputPixels, transform.ClampOutputPixels
	switch {
	case j.spec.Format == transform.FormatAVIF && j.cfg.MaxAVIFPixels < limit:
		limit, clamp = j.cfg.MaxAVIFPixels, transform.ClampAVIFPixels
	case j.spec.Format == transform.FormatJXL && j.cfg.MaxJXLPixels < limit:
		limit, clamp = j.cfg.MaxJXLPixels, transform.ClampJXLPixels
	}
	if j.animated && j.cfg.MaxOutputFramesPixels/int64(j.pages) < limit {
		limit, clamp = j.cfg.MaxOutputFramesPixels/int64(j.pages), transform.ClampFramesPixels
	}
	pd := j.spec.Pad
	for range 16 { // rounding and padding, which does not shrink, leave it over: shrink again
		px := int64(j.plan.boxW+pd[1]+pd[3]) * int64(j.plan.boxH+pd[0]+pd[2])
		px = max(px, int64(j.spec.Width)*int64(j.spec.Height))
		if px <= limit {
			return
		}
		if j.spec.Width == 0 && j.spec.Height == 0 {
			j.spec.Width = ow // one side keeps the source's shape under every fit
		}
		f := math.Sqrt(float64(limit)/float64(px)) * 0.99
		if j.spec.Width > 0 {
			j.spec.Width = max(1, int(float64(j.spec.Width)*f))
		}
		if j.spec.Height > 0 {
			j.spec.Height = max(1, int(float64(j.spec.Height)*f))
		}
		j.plan = planSize(j.spec, ow, oh, j.cfg.MaxDimension, j.cfg.MaxUpscale)
		j.res.Clamp = clamp
	}
}

// plan sizes the output from the source as displayed (after EXIF
// orientation), picks how to load it (JPEG shrink-on-load, SVG rasterised
// at the size asked for, every frame of an animation) and the format the
// output is expected to take, then prices the render and refuses it when
// it is over a limit.
func plan(j *job) error {
	ow, oh := j.sw, j.sh
	if o := j.img.Orientation(); o >= 5 && o <= 8 {
		ow, oh = j.sh, j.sw
	}
	j.shown = [2]int{ow, oh}
	// w and h given as fractions are of the source as displayed, before
	// rect= and trim cut it: imgix's "ratio in relation to the source
	// image size".
	if j.spec.ResolveFractions(ow, oh, j.cfg.MaxDimension) {
		j.res.Clamp = transform.ClampDimension
	}
	if r := j.spec.Rect; r[2] != 0 {
		// rect= is in the source's pixels as displayed; the part outside the
		// source is dropped, as imgix does.
		x, y := min(r[0], ow-1), min(r[1], oh-1)
		j.rect = [4]int{x, y, min(r[2], ow-x), min(r[3], oh-y)}
		ow, oh = j.rect[2], j.rect[3]
	}
	if j.spec.ARW != 0 {
		// ar= with neither w nor h: the largest crop of that shape, within
		// limits.max_dimension.
		w, h := ow, int(math.Round(float64(ow)*float64(j.spec.ARH)/float64(j.spec.ARW)))
		if h > oh {
			w, h = int(math.Round(float64(oh)*float64(j.spec.ARW)/float64(j.spec.ARH))), oh
		}
		if m := j.cfg.MaxDimension; w > m || h > m {
			f := float64(m) / float64(max(w, h))
			w, h = int(float64(w)*f), int(float64(h)*f)
		}
		j.spec.Width, j.spec.Height = max(w, 1), max(h, 1)
	}
	// Padding goes inside the box asked for, as imgix's does: w=300&pad=20
	// is 300 wide, the image 260 of it.
	if pd := j.spec.Pad; j.spec.Width > 0 {
		j.spec.Width = max(1, j.spec.Width-pd[1]-pd[3])
	}
	if pd := j.spec.Pad; j.spec.Height > 0 {
		j.spec.Height = max(1, j.spec.Height-pd[0]-pd[2])
	}
	if j.spec.Format == transform.FormatBlurHash {
		hashBox(&j.spec, ow, oh)
	}
	j.plan = planSize(j.spec, ow, oh, j.cfg.MaxDimension, j.cfg.MaxUpscale)
	j.clampToLimits(ow, oh)
	j.opts = loadOptions{frame: j.spec.Frame, all: j.animated}
	switch {
	case j.spec.Format == transform.FormatJSON && j.spec.FacesJSON:
		// The faces are looked for on a copy of at most faces.MaxSide a
		// side: a JPEG is decoded no larger than it needs.
		if j.srcFmt == transform.FormatJPEG {
			gw, gh := faceSide(ow, oh)
			j.opts.shrink = jpegShrink(ow, oh, gw, gh)
		}
	case j.spec.Format == transform.FormatJSON:
		// Described from the header: no pixel is loaded, and a prescale
		// would settle (decode) the whole source for nothing.
	case j.spec.Fit == transform.FitFaceArea:
		// Loaded whole: the face area may be a small part of the source,
		// and is cut from it at full resolution (placeFaces).
	case j.spec.Trim != 0:
		// Loaded whole: trim's bounds are known only from the pixels, so
		// the plan is made again from them (process).
	case j.srcFmt == transform.FormatJPEG || j.srcFmt == transform.FormatWebP && j.pages == 1:
		// With rect=, the scale is the rect's to the size asked, and the
		// rect is cut from the source as decoded at that scale (process):
		// decoded whole, a 4000x3000 JPEG held 41 MiB to cut a rect that
		// ends as a thumbnail.
		j.opts.shrink = jpegShrink(ow, oh, j.plan.resizeW, j.plan.resizeH)
		if j.rect[2] != 0 {
			j.opts.shrink = rectShrink(j.rect, j.shown, j.opts.shrink, j.plan)
		}
	case j.spec.Rect[2] != 0:
		// Loaded whole: a prescale would reduce the whole source for a
		// rect that may be a small part of it.
	case j.srcFmt == transform.FormatHEIF || j.srcFmt == transform.FormatAVIF:
		if j.opts.thumb = thumbnailCovers(j, ow != j.sw); !j.opts.thumb {
			j.prescale = prescale(ow, oh, j.plan)
		}
	case j.srcFmt == transform.FormatPNG:
		j.prescale = prescale(ow, oh, j.plan)
	case j.srcFmt == transform.FormatSVG:
		scale := max(float64(j.plan.resizeW)/float64(ow), float64(j.plan.resizeH)/float64(oh))
		j.opts.dpi = max(1, int(math.Ceil(72*scale)))
	}
	// Padding with a translucent colour adds alpha; nothing else does.
	bg := j.spec.Background
	alpha := j.img.HasAlpha() || (j.spec.Fit.Fills() && bg.Set && bg.A < 255)
	format, _ := chooseFormat(j.spec, j.srcFmt, alpha, j.animated, j.plan.boxW*j.plan.boxH, j.cfg)
	if err := markHeader(j); err != nil {
		return err
	}
	j.bands, j.sample, j.alpha = j.img.Bands(), sampleBytes(j.img.BandFormat()), j.img.HasAlpha()
	j.cmyk = j.img.Interpretation() == vips.InterpretationCMYK
	j.cost = estimate(j, format)
	return j.cost.check(j.cfg)
}

// sampleBytes is the size of one band of one pixel as decoded.
func sampleBytes(f vips.BandFormat) int {
	switch f {
	case vips.BandFormatUshort, vips.BandFormatShort:
		return 2
	case vips.BandFormatUint, vips.BandFormatInt, vips.BandFormatFloat:
		return 4
	case vips.BandFormatDouble, vips.BandFormatComplex:
		return 8
	case vips.BandFormatDpComplex:
		return 16
	}
	return 1
}

// loadSized starts the render from the source's rung at its scale when the
// ladder keeps one; otherwise it loads the source again when the plan needs
// other load options than the header read used, and offers the ladder the
// rung it wants. The image is handed to the kill switch: every tile of the
// render is pulled through it.
func loadSized(j *job) error {
	scale, keep := j.ladderScale(), false
	if scale > 0 {
		var climbed bool
		if climbed, keep = climb(j, scale); climbed {
			j.kill.track(j.img)
			if scale == 1 {
				j.decoded("rung at full size")
			} else {
				j.decoded(fmt.Sprintf("rung at 1/%d scale", scale))
			}
			return nil
		}
	}
	if j.img == nil || j.opts != (loadOptions{frame: j.spec.Frame}) {
		if j.img != nil {
			j.img.Close()
			j.img = nil
		}
		img, err := j.loadSource(j.opts)
		if err != nil {
			return err
		}
		j.img = img
	}
	j.kill.track(j.img)
	switch {
	case j.opts.thumb:
		j.decoded("embedded thumbnail")
	case j.opts.shrink > 1:
		j.decoded(fmt.Sprintf("shrink-on-load 1/%d", j.opts.shrink))
	default:
		j.decoded("whole")
	}
	if j.prescale > 1 {
		if err := reduceFirst(j); err != nil {
			return err
		}
	}
	if keep {
		// A rung kept settles the render on it, which tracks the image.
		if err := keepRung(j, scale); err != nil {
			return err
		}
	}
	return nil
}

// decoded records the size the render's pixels start from, and how.
func (j *job) decoded(how string) {
	j.res.DecodedWidth, j.res.DecodedHeight, j.res.DecodedBy = j.img.Width(), j.img.PageHeight(), how
}

// orient makes the loaded source one frame, upright and sRGB: what every
// operation after it expects, and what a rung holds.
func orient(j *job) error {
	if j.oriented {
		return nil
	}
	j.oriented = true
	return orientImage(j.img, j.animated)
}

// orientImage makes img upright and sRGB, and one frame unless animated.
func orientImage(img *vips.ImageRef, animated bool) error {
	if !animated && img.Pages() > 1 {
		// One frame of a multi-page source still says how many the file has;
		// govips' rotation would then cut the single frame into a grid
		// ("bad grid geometry", and "bad seek" for HEIF).
		if err := img.SetPages(1); err != nil {
			return vipsError("pages", err)
		}
	}
	if err := img.AutoRotate(); err != nil {
		return vipsError("autorotate", err)
	}
	return toSRGB(img)
}

// process runs the operations: orientation, sRGB, one resize, crop or pad,
// then rot, flip, blur and sharp.
func process(j *job) error {
	if j.spec.Format == transform.FormatJSON {
		return nil // facts about the source: nothing to draw
	}
	img, err := cut(j)
	if err != nil {
		return err
	}
	img, settled, err := resizeToPlan(j, img)
	if err != nil {
		return err
	}
	if img, err = frame(j, img, settled); err != nil {
		return err
	}
	return effects(j, img)
}

// cut orients the decoded source and cuts it to what the request keeps of
// it (rect, trim), re-pricing the plan when trim changed the size, and
// finds the faces a face crop needs.
func cut(j *job) (*vips.ImageRef, error) {
	if err := orient(j); err != nil {
		return nil, err
	}
	if j.srcFmt == transform.FormatSVG && svgRereads(j.spec) {
		// svgload draws each region asked of it, the whole document
		// clipped to it, when it is asked: a smart crop, a quarter turn, a
		// blur or a sharpen asks for regions again and again. Drawn once,
		// into memory: the 3,000-line path (1.5 s at 1000x1000) at
		// w=16&h=1200&fit=crop&crop=entropy had taken 28 s.
		if err := settle(j); err != nil {
			return nil, err
		}
	}
	img := j.img
	if err := j.withinPrice("load", img); err != nil {
		return nil, err
	}
	if r := j.rect; r[2] != 0 {
		r = scaleRect(r, max(j.opts.shrink, 1), img.Width(), img.PageHeight())
		if err := img.ExtractArea(r[0], r[1], r[2], r[3]); err != nil {
			return nil, vipsError("rect", err)
		}
	}
	if j.spec.Trim != 0 {
		if err := trim(img, j.spec); err != nil {
			return nil, err
		}
		// The box follows the trimmed size: a new plan, priced and checked
		// against every limit before a pixel of it is allocated.
		j.plan = planSize(j.spec, img.Width(), img.PageHeight(), j.cfg.MaxDimension, j.cfg.MaxUpscale)
		if err := j.reprice(); err != nil {
			return nil, err
		}
	}
	if err := placeFaces(j, img); err != nil {
		return nil, err
	}
	return img, nil
}

// resizeToPlan resizes img to the plan's size, and reports whether the
// result was settled (drawn into memory, the decode let go of).
func resizeToPlan(j *job, img *vips.ImageRef) (*vips.ImageRef, bool, error) {
	settled := false // img is the resized image, drawn into memory
	if cw, ch := img.Width(), img.PageHeight(); cw != j.plan.resizeW || ch != j.plan.resizeH {
		hs := float64(j.plan.resizeW) / float64(cw)
		vs := float64(j.plan.resizeH) / float64(ch)
		if err := img.ResizeWithVScale(hs, vs, vips.KernelLanczos3); err != nil {
			return nil, false, vipsError("resize", err)
		}
		if err := j.withinPrice("resize", img); err != nil {
			return nil, false, err
		}
		// A reduce to half the pixels or fewer is settled: what follows
		// (a blur, a quarter turn, a smart crop, blurhash's thumbnail)
		// would recompute it region by region, and the decoded source is
		// let go of. An animation stays one lazy strip of frames, whose
		// page height the TIFF would not keep.
		if !j.animated && 2*int64(j.plan.resizeW)*int64(j.plan.resizeH) <= int64(cw)*int64(ch) {
			if err := settle(j); err != nil {
				return nil, false, err
			}
			img, settled = j.img, true
		}
	}
	return img, settled, nil
}

// frame crops or pads the resized image to the plan's box (at the faces,
// or onto a blurred copy of itself for fill=blur) and adds pad.
func frame(j *job, img *vips.ImageRef, settled bool) (*vips.ImageRef, error) {
	if placed, err := cropAtFaces(j, img); err != nil {
		return nil, err
	} else if !placed && j.spec.FillBlur && (img.Width() != j.plan.boxW || img.PageHeight() != j.plan.boxH) {
		if err := blurFill(j, settled); err != nil {
			return nil, err
		}
		img = j.img
	} else if !placed {
		if err := cropOrPad(img, j.spec, j.plan, j.animated); err != nil {
			return nil, err
		}
	}
	if p := j.spec.Pad; p != [4]int{} {
		if err := padAt(img, j.spec.Background, p[3], p[0], img.Width()+p[1]+p[3], img.Height()+p[0]+p[2]); err != nil {
			return nil, err
		}
	}
	if err := j.withinPrice("crop and pad", img); err != nil {
		return nil, err
	}
	return img, nil
}

// effects applies the colour and detail adjustments, then the watermark.
func effects(j *job, img *vips.ImageRef) error {
	if err := adjust(img, j.spec); err != nil {
		return err
	}
	if j.spec.USM != 0 {
		if (j.spec.Blur > 0 || j.spec.Sharp > 0) && !j.animated {
			// usm reads its input twice (the image, and it through its
			// gaussian), and a blur or sharpen before it would be computed
			// again for every region the gaussian asks of it: blur=2000 and
			// usm with usmrad=100 at 800x1000 took 12.6 s of CPU where each
			// alone took 1.3 s. Drawn into memory once first.
			if err := settle(j); err != nil {
				return err
			}
			img = j.img
		}
		if err := unsharp(img, j.spec.USM, j.spec.USMRad); err != nil {
			return err
		}
	}
	if err := tone(img, j.spec); err != nil {
		return err
	}
	if j.spec.Vib != 0 {
		if err := vibrance(img, j.spec.Vib); err != nil {
			return err
		}
	}
	if s := j.spec; s.Hue != 0 || s.Sepia != 0 || s.Monochrome.Set {
		if err := colourMatrix(img, s); err != nil {
			return err
		}
	}
	if j.spec.Px > 1 {
		if err := pixellate(j, j.spec.Px); err != nil {
			return err
		}
		img = j.img
	}
	return watermark(j, img)
}

// svgRereads reports a spec whose steps read the drawing more than once:
// trim (its corner, its search, then the render: the 3,000-line path took
// 4.5 s with trim=auto, 1.5 s without), a smart crop, a quarter turn, a
// blur or a sharpen (the regions they ask for overlap).
func svgRereads(s transform.Spec) bool {
	return s.Trim != 0 || s.Gravity == transform.GravityEntropy || s.Gravity == transform.GravityAttention ||
		s.Rotate == 90 || s.Rotate == 270 || s.Blur > 0 || s.Sharp > 0
}

// rectShrink is the shrink-on-load a rect is cut at: the largest of s,
// s/2, ... at which the rect's edges, moved outward to whole pixels of that
// scale, move by at most a quarter of an output pixel. Cut at 1/8 from the
// 4000x3000 camera JPEG, rect=1000,500,2000,1500&w=200 (edges 4 source
// pixels off the grid, 0.4 of an output pixel) scored SSIM 0.9674 against
// the rect cut at full size and resized once; on the grid, 0.9944.
func rectShrink(r [4]int, shown [2]int, s int, p sizePlan) int {
	perSource := max(float64(p.resizeW)/float64(r[2]), float64(p.resizeH)/float64(r[3]))
	for ; s > 1; s /= 2 {
		// The left and top edges move down to a multiple of s, the right
		// and bottom ones up (the source's own edges stay where they are).
		off := max(r[0]%s, r[1]%s)
		if right := r[0] + r[2]; right != shown[0] {
			off = max(off, (s-right%s)%s)
		}
		if bottom := r[1] + r[3]; bottom != shown[1] {
			off = max(off, (s-bottom%s)%s)
		}
		if float64(off)*perSource <= 0.25 {
			return s
		}
	}
	return 1
}

// scaleRect is r, a rect in the source's pixels as displayed, in an image
// of w x h pixels that is the source at 1/s (shrink-on-load, or its rung),
// outward to whole pixels of that scale. At 1/1 r is unchanged.
func scaleRect(r [4]int, s, w, h int) [4]int {
	if s == 1 {
		return r
	}
	x0, y0 := min(r[0]/s, w-1), min(r[1]/s, h-1)
	x1, y1 := min(ceilDiv(r[0]+r[2], s), w), min(ceilDiv(r[1]+r[3], s), h)
	return [4]int{x0, y0, max(x1-x0, 1), max(y1-y0, 1)}
}

// encodeOrPassthrough picks the output format and encodes. When re-encoding
// a plain source to its own format at its own size made it larger, the
// source bytes are the better answer (they carry no metadata).
func encodeOrPassthrough(j *job) error {
	img := j.img
	j.kill.track(img)
	if f := j.spec.Format; f.Facts() {
		var body []byte
		var err error
		if f == transform.FormatJSON {
			body, err = factsJSON(j)
		} else {
			// The hash's thumbnail is a reduce, which would compute what
			// came before it again for every region it reads: a 16x16
			// AVIF padded by 100 and blurred (sigma 40) took 1.6 s to
			// hash, its 216x216 blur priced at 22 ms. Computed once.
			if err := settle(j); err != nil {
				return err
			}
			body, err = factsBlurHash(j.img)
		}
		if err != nil {
			return err
		}
		r := &j.res
		r.Format, r.FormatReason, r.Body = f, "fm", body
		r.Width, r.Height = j.sw, j.sh
		return nil
	}
	if err := j.withinPrice("everything before the encoder", img); err != nil {
		return err
	}
	out, reason := chooseFormat(j.spec, j.srcFmt, img.HasAlpha(), j.animated, img.Width()*img.PageHeight(), j.cfg)
	body, err := encode(img, out, j.spec, j.cfg)
	if err != nil {
		return err
	}
	r := &j.res
	r.Format, r.FormatReason = out, reason
	r.Body, r.Width, r.Height = body, img.Width(), img.PageHeight()
	if out == j.srcFmt && r.Width == j.sw && r.Height == j.sh && len(body) > len(j.orig) && j.plain && plainSpec(j.spec) &&
		(j.srcFmt != transform.FormatJPEG || transform.JPEGHuffman(j.orig)) {
		r.Body, r.FormatReason = j.orig, reason+"; source bytes were smaller"
	}
	return nil
}

// plainSource reports an 8-bit sRGB or grey source with no orientation, no
// ICC profile and no EXIF/XMP/IPTC: its bytes show exactly what a re-encode
// would, and carry nothing a re-encode strips.
func plainSource(img *vips.ImageRef) bool {
	if img.Orientation() > 1 || img.HasICCProfile() || img.HasExif() || img.HasIPTC() || img.BandFormat() != vips.BandFormatUchar {
		return false
	}
	if i := img.Interpretation(); i != vips.InterpretationSRGB && i != vips.InterpretationBW {
		return false
	}
	for _, f := range img.GetFields() {
		if f == "xmp-data" {
			return false
		}
	}
	return true
}

// plainSpec reports a spec that changes nothing but perhaps the encoding.
// What only the encoder reads is cleared and the rest must be the zero
// spec, so that a parameter added later counts without being listed here:
// listed, invert, con, bri, sat, gam, mark and pad had been left out, and
// kodim23.png?invert=true was answered the source's bytes, not inverted.
// The fit and gravity change nothing without a box, nor trim-tol without
// trim.
func plainSpec(s transform.Spec) bool {
	s.Format, s.AutoFormat, s.AutoCompress, s.Accepted = 0, false, false, 0
	s.Quality, s.Lossless, s.QualitySet, s.Download = 0, false, 0, ""
	s.Hints, s.HintsUsed, s.Clamp = 0, 0, 0
	s.Fit, s.Gravity, s.FocalX, s.FocalY = 0, 0, 0, 0
	if s.Trim == 0 {
		s.TrimTol = 0
	}
	return s == transform.Spec{}
}

// sizePlan is the size after the resize, and the final box when it differs.
type sizePlan struct {
	resizeW, resizeH int
	boxW, boxH       int // fit=crop: crop to this; fit=fill: pad to this; else equal to resize
}

// planSize applies the fit rules (README, the URL API) to a source of ow x oh pixels (as
// displayed) and the spec's box.
func planSize(spec transform.Spec, ow, oh, maxDim int, maxUpscale float64) sizePlan {
	if spec.Fit == transform.FitFaceArea {
		// Planned and priced as a crop of the whole image: the face area
		// is a part of it, known from the pixels, and process plans again
		// from it (placeFaces).
		spec.Fit = transform.FitCrop
	}
	W, H := spec.Width, spec.Height
	fw, fh := float64(W)/float64(ow), float64(H)/float64(oh)
	round := func(v float64) int { return max(1, int(math.Round(v))) }
	var p sizePlan
	switch {
	case W == 0 && H == 0:
		p.resizeW, p.resizeH = ow, oh
	case W == 0 || H == 0:
		// One side given: every fit keeps the aspect ratio; max and
		// fillmax never enlarge.
		s := fw
		if W == 0 {
			s = fh
		}
		noEnlarge := spec.Fit == transform.FitMax || spec.Fit == transform.FitFillMax
		if noEnlarge {
			s = min(s, 1)
		}
		p.resizeW, p.resizeH = round(float64(ow)*s), round(float64(oh)*s)
		if W != 0 && !noEnlarge {
			p.resizeW = W
		} else if H != 0 && !noEnlarge {
			p.resizeH = H
		}
	default:
		switch spec.Fit {
		case transform.FitClip, transform.FitFill:
			s := min(fw, fh)
			p.resizeW, p.resizeH = min(W, round(float64(ow)*s)), min(H, round(float64(oh)*s))
		case transform.FitFillMax:
			s := min(fw, fh, 1)
			p.resizeW, p.resizeH = min(W, round(float64(ow)*s)), min(H, round(float64(oh)*s))
		case transform.FitMax:
			s := min(fw, fh, 1)
			p.resizeW, p.resizeH = round(float64(ow)*s), round(float64(oh)*s)
		case transform.FitCrop:
			s := max(fw, fh)
			p.resizeW, p.resizeH = max(W, round(float64(ow)*s)), max(H, round(float64(oh)*s))
		case transform.FitMin:
			// imgix's min: the shape asked for, cropped as crop does, but
			// never larger than the source: a box it would have to enlarge
			// the source to cover becomes the largest of its shape inside
			// the source.
			if s := max(fw, fh); s <= 1 {
				p.resizeW, p.resizeH = max(W, round(float64(ow)*s)), max(H, round(float64(oh)*s))
				p.boxW, p.boxH = W, H
			} else {
				k := min(float64(ow)/float64(W), float64(oh)/float64(H))
				p.resizeW, p.resizeH = ow, oh
				p.boxW, p.boxH = min(ow, round(float64(W)*k)), min(oh, round(float64(H)*k))
			}
			return p
		case transform.FitScale:
			// Stretching is the one fit that enlarges each axis on its own;
			// past limits.max_upscale an axis keeps the largest size allowed,
			// as imgproxy does with enlarge off.
			p.resizeW = min(W, max(1, int(float64(ow)*maxUpscale)))
			p.resizeH = min(H, max(1, int(float64(oh)*maxUpscale)))
		}
	}
	p.boxW, p.boxH = p.resizeW, p.resizeH
	if W != 0 && H != 0 && (spec.Fit == transform.FitCrop || spec.Fit.Fills()) {
		p.boxW, p.boxH = W, H
	}
	// A very thin source asked to cover a box (fit=min) or to match one side
	// would otherwise become enormous; crop only ever computes the box.
	if spec.Fit != transform.FitCrop && (p.resizeW > maxDim || p.resizeH > maxDim) {
		s := min(float64(maxDim)/float64(p.resizeW), float64(maxDim)/float64(p.resizeH))
		p.resizeW, p.resizeH = round(float64(p.resizeW)*s), round(float64(p.resizeH)*s)
		p.boxW, p.boxH = min(p.boxW, maxDim), min(p.boxH, maxDim)
	}
	return p
}

// jpegShrink is the largest libjpeg scale (8, 4, 2) that still leaves at least
// the target size, so the decoder does most of the downscale for free. Measured
// with libvips 8.14: vips_thumbnail, which keeps a 2x reduce for itself and so
// decodes at twice the size needed, took 18 ms where this route took 14 ms
// for a 1600x1200 JPEG to a 300 px WebP.
func jpegShrink(ow, oh, tw, th int) int {
	for _, s := range []int{8, 4, 2} {
		if ow/s >= tw && oh/s >= th {
			return s
		}
	}
	return 1
}

// toSRGB converts pixels to sRGB through the embedded profile (CMYK included),
// leaving greyscale and untagged sRGB alone.
func toSRGB(img *vips.ImageRef) error {
	if img.HasICCProfile() {
		grey := img.Bands() <= 2
		if err := img.TransformICCProfile(vips.SRGBIEC6196621ICCProfilePath); err != nil {
			return vipsError("colour profile", err)
		}
		if grey {
			// The transform to sRGB makes three equal bands; one is exact.
			if err := img.ToColorSpace(vips.InterpretationBW); err != nil {
				return vipsError("colour space", err)
			}
		}
		return nil
	}
	switch img.Interpretation() {
	case vips.InterpretationSRGB, vips.InterpretationBW, vips.InterpretationGrey16, vips.InterpretationRGB16:
		return nil
	}
	if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
		return vipsError("colour space", err)
	}
	return nil
}

func cropOrPad(img *vips.ImageRef, spec transform.Spec, p sizePlan, animated bool) error {
	cw, ch := img.Width(), img.PageHeight()
	switch {
	case p.boxW == cw && p.boxH == ch:
		return nil
	case spec.Fit.Fills():
		return pad(img, spec.Background, p.boxW, p.boxH)
	}
	w, h := min(p.boxW, cw), min(p.boxH, ch)
	switch spec.Gravity {
	case transform.GravityEntropy, transform.GravityAttention:
		if animated {
			break // smartcrop reads one image, not a strip of frames: centre instead
		}
		if spec.Gravity == transform.GravityEntropy && (img.HasAlpha() || img.BandFormat() != vips.BandFormatUchar) {
			return entropyCrop(img, w, h)
		}
		interesting := vips.InterestingEntropy
		if spec.Gravity == transform.GravityAttention {
			interesting = vips.InterestingAttention
		}
		if err := img.SmartCrop(w, h, interesting); err != nil {
			return vipsError("crop", err)
		}
		return nil
	}
	left, top := (cw-w)/2, (ch-h)/2
	switch {
	case spec.Gravity == transform.GravityFocalPoint:
		left = clamp(int(math.Round(spec.FocalX*float64(cw)))-w/2, 0, cw-w)
		top = clamp(int(math.Round(spec.FocalY*float64(ch)))-h/2, 0, ch-h)
	default:
		if spec.Gravity&transform.GravityLeft != 0 {
			left = 0
		} else if spec.Gravity&transform.GravityRight != 0 {
			left = cw - w
		}
		if spec.Gravity&transform.GravityTop != 0 {
			top = 0
		} else if spec.Gravity&transform.GravityBottom != 0 {
			top = ch - h
		}
	}
	if err := img.ExtractArea(left, top, w, h); err != nil {
		return vipsError("crop", err)
	}
	return nil
}

// entropyCrop is crop=entropy for an image with alpha or more than 8 bits
// a sample: the box is found on an 8-bit copy flattened onto black, which
// is what libvips' smartcrop searches (it premultiplies), and cut from
// img. Given the alpha itself, smartcrop histograms premultiplied floats,
// and held 130 MiB of RSS to crop a 32x32 RGBA PNG to 16x16, 206 MiB for
// a 16-bit one; given 16 bits, it histograms 65,536 levels a band, 80 MiB
// to crop a 150x103 TIFF enlarged to 1200x824 (the cost oracle; 8 bits:
// under 2 MiB). The box an 8-bit copy gives is the same to a sample's
// rounding.
func entropyCrop(img *vips.ImageRef, w, h int) error {
	probe, err := img.Copy()
	if err != nil {
		return vipsError("crop", err)
	}
	defer probe.Close()
	if probe.HasAlpha() {
		if err := probe.Flatten(&vips.Color{}); err != nil {
			return vipsError("crop", err)
		}
	}
	if probe.BandFormat() != vips.BandFormatUchar {
		// 16 bits to 8: the top byte of each sample.
		if err := probe.Linear1(1.0/256, 0); err != nil {
			return vipsError("crop", err)
		}
		if err := probe.Cast(vips.BandFormatUchar); err != nil {
			return vipsError("crop", err)
		}
	}
	if err := probe.SmartCrop(w, h, vips.InterestingEntropy); err != nil {
		return vipsError("crop", err)
	}
	// libvips' extract_area records where its box was as a negative
	// offset, which smartcrop's output keeps.
	if err := img.ExtractArea(-probe.OffsetX(), -probe.OffsetY(), w, h); err != nil {
		return vipsError("crop", err)
	}
	return nil
}

// pad centres img on a boxW x boxH background: bg when given, else
// transparent for images with alpha and white for the rest.
func pad(img *vips.ImageRef, bg transform.Color, boxW, boxH int) error {
	return padAt(img, bg, (boxW-img.Width())/2, (boxH-img.Height())/2, boxW, boxH)
}

// padAt places img at left, top on a boxW x boxH background (see pad).
func padAt(img *vips.ImageRef, bg transform.Color, left, top, boxW, boxH int) error {
	if !bg.Set {
		bg = transform.Color{R: 255, G: 255, B: 255, A: 255}
		if img.HasAlpha() {
			bg.A = 0
		}
	}
	if img.Bands() < 3 {
		// A grey image cannot take an RGB background.
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return vipsError("pad", err)
		}
	}
	if bg.A < 255 && !img.HasAlpha() {
		if err := img.AddAlpha(); err != nil {
			return vipsError("pad", err)
		}
	}
	var err error
	if img.HasAlpha() {
		err = img.EmbedBackgroundRGBA(left, top, boxW, boxH, &vips.ColorRGBA{R: bg.R, G: bg.G, B: bg.B, A: bg.A})
	} else {
		err = img.EmbedBackground(left, top, boxW, boxH, &vips.Color{R: bg.R, G: bg.G, B: bg.B})
	}
	if err != nil {
		return vipsError("pad", err)
	}
	return nil
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// adjust applies rot, flip, blur and sharp, after orientation and sizing.
func adjust(img *vips.ImageRef, spec transform.Spec) error {
	if spec.Rotate != 0 {
		angle := map[int]vips.Angle{90: vips.Angle90, 180: vips.Angle180, 270: vips.Angle270}[spec.Rotate]
		if err := img.Rotate(angle); err != nil {
			return vipsError("rot", err)
		}
	}
	if spec.Flip&transform.FlipH != 0 {
		if err := img.Flip(vips.DirectionHorizontal); err != nil {
			return vipsError("flip", err)
		}
	}
	if spec.Flip&transform.FlipV != 0 {
		if err := img.Flip(vips.DirectionVertical); err != nil {
			return vipsError("flip", err)
		}
	}
	if spec.Blur > 0 {
		if err := img.GaussianBlur(float64(spec.Blur) / 20); err != nil {
			return vipsError("blur", err)
		}
	}
	if spec.Sharp > 0 {
		// sharp=100 is a strong unsharp mask (sigma 2); small values stay subtle.
		if err := img.Sharpen(0.5+float64(spec.Sharp)/100*1.5, 2, 20); err != nil {
			return vipsError("sharp", err)
		}
	}
	return nil
}

// chooseFormat resolves the output format: fm, else auto=format from the
// negotiated Accept, else the source's own format when it can be produced.
// Under auto=format an animation goes to WebP or GIF (AVIF cannot hold one
// here), an output above the AVIF negotiation limit skips AVIF, whose
// encoder is the slowest by far (bench/RESULTS.md), and JPEG XL (accepted
// only while the edge's jxl flag is on for the object) comes first within
// limits.max_jxl_pixels.
func chooseFormat(spec transform.Spec, src transform.Format, alpha, animated bool, pixels int, cfg *Config) (transform.Format, string) {
	avifMax := cfg.negotiatedAVIFPixels()
	legacy, why := transform.FormatJPEG, "accept"
	if alpha {
		legacy, why = transform.FormatPNG, "alpha"
	}
	webp := spec.Accepted&transform.AcceptWebP != 0
	switch {
	case spec.Format != transform.FormatSource:
		return spec.Format, "fm"
	case spec.AutoFormat && animated && webp:
		return transform.FormatWebP, "accept; animation"
	case spec.AutoFormat && animated:
		return transform.FormatGIF, "animation"
	case spec.AutoFormat && spec.Accepted&transform.AcceptJXL != 0 && int64(pixels) <= cfg.MaxJXLPixels:
		return transform.FormatJXL, "accept; flag jxl"
	case spec.AutoFormat && spec.Accepted&transform.AcceptAVIF != 0 && int64(pixels) <= avifMax:
		return transform.FormatAVIF, "accept"
	case spec.AutoFormat && webp && spec.Accepted&transform.AcceptAVIF != 0:
		return transform.FormatWebP, "accept; above transform.avif_max_pixels"
	case spec.AutoFormat && webp:
		return transform.FormatWebP, "accept"
	case spec.AutoFormat:
		return legacy, why
	case src.Encodable():
		return src, "source"
	}
	return legacy, "source not encodable"
}

// Every step of prelude and pipeline has its mark.
var _ = [stageCount]struct{}(([len(prelude) + len(pipeline)]struct{}{}))

// reprice prices the plan a step made from the pixels (trim knows its
// bounds only then) and checks it against every limit, so that a render
// never runs a plan that was not priced: an 8192x1000 PNG trimmed to its
// square middle and asked for w=7900 had rendered 7900x7900, 62 MP past
// limits.max_output_pixels. More memory than was reserved is taken from
// the budget now, or the render stops as busy.
func (j *job) reprice() error {
	next := estimate(j, j.cost.format)
	if err := next.check(j.cfg); err != nil {
		return err
	}
	if next.heavy() && !j.heavy && j.takeHeavy != nil {
		// Priced light before the trim, costly after it: it joins the
		// heavy lane, or every slot could be held by renders priced light.
		if !j.takeHeavy() {
			return fmt.Errorf("%w: trimmed, the render is costly (about %.1f s), and every place for a costly render (half of transform.concurrency) is taken",
				transform.ErrBusy, next.cpu.Seconds())
		}
		j.heavy = true // given back with the rest when the render ends
	}
	if next.memory > j.cost.memory {
		if j.grow != nil && !j.grow(j.cost.memory, next.memory) {
			return fmt.Errorf("%w: trimmed, the render needs %d bytes more than were reserved, and transform.memory_budget has not that much free",
				transform.ErrBusy, next.memory-j.cost.memory)
		}
	} else {
		next.memory = j.cost.memory // what is reserved, released at the end
	}
	// The new plan prices what is left of the render; what was done
	// before it (a face search: fit=facearea on a 200x16000 PNG, re-planned
	// at its faces, had been priced 89 ms for 430 spent) stays in the
	// price the render is held to.
	next.cpu = max(next.cpu, j.cost.cpu)
	j.cost = next
	return nil
}

// hashBox shrinks the box of an fm=blurhash render to at most twice the
// hash's thumbnail on its long side, its shape kept, and with it what
// scales with the box (blur, pad, the mark's size): the hash is computed
// from a 32 px thumbnail of the processed image, so the image is processed
// at about that size, and the price is the hash's. Processed at the size
// asked, w=4000&h=4000&fit=crop&fm=blurhash&sharp=100 took 12.5 s of CPU.
func hashBox(s *transform.Spec, ow, oh int) {
	const side = 2 * blurHashSide
	// The image hashed is the image and its padding: h=1200&pad=1000
	// leaves a pixel of image (the padding is inside imgix's box) in 2001
	// square of padding, which was priced as the pixel alone (177 ms spent,
	// nothing priced; the cost oracle).
	padW, padH := s.Pad[1]+s.Pad[3], s.Pad[0]+s.Pad[2]
	long, boxed := max(s.Width+padW, s.Height+padH), s.Width != 0 || s.Height != 0
	if !boxed {
		// The source's own size, boxed: what scales with the box scales
		// from the source's size. Left as asked, pad=1000 on a 2048x1536
		// PNG made a 2064x2011 image to hash, 4 s of CPU with sharp and
		// trim (the cost oracle).
		s.Width, s.Height, s.Fit = side, side, transform.FitClip
		long = max(ow+padW, oh+padH)
	}
	if long <= side {
		return
	}
	f := float64(side) / float64(long)
	scale := func(v int) int {
		if v == 0 {
			return 0
		}
		return max(1, int(math.Round(float64(v)*f)))
	}
	if boxed {
		s.Width, s.Height = scale(s.Width), scale(s.Height)
	}
	s.Blur = int(math.Round(float64(s.Blur) * f))
	if s.USM != 0 {
		s.USMRad = max(0.01, s.USMRad*f)
	}
	if s.Px > 1 {
		s.Px = max(1, int(math.Round(float64(s.Px)*f)))
	}
	for i := range s.Pad {
		s.Pad[i] = int(math.Round(float64(s.Pad[i]) * f))
	}
	s.MarkW, s.MarkH, s.MarkPad = scale(s.MarkW), scale(s.MarkH), int(math.Round(float64(s.MarkPad)*f))
}

// pixellate draws px: blocks of n x n pixels from the top left, each the
// average of the image's pixels under it (alpha-weighted when there is
// alpha, so that the colour of transparent pixels does not show), the last
// row and column of blocks cut to the image. libvips 8.14's reduce by n is
// a box shrink by about n/2 and then a linear kernel reaching into the
// neighbouring blocks (5 levels a band off their averages on kodim23 at
// px=20), so the image is drawn into memory, averaged here block by block
// (one pass over its samples), and the blocks handed back as an
// uncompressed PNG, enlarged n times by copying (zoom) and cut to size.
// imgix gives the range, 0 to 100, not the blocks' alignment or colour.
func pixellate(j *job, n int) error {
	img := j.img
	if err := eightBit(img); err != nil {
		return err
	}
	w, h, bands := img.Width(), img.Height(), img.Bands()
	raw, err := img.ToBytes()
	if err != nil {
		return vipsError("px", err)
	}
	if len(raw) != w*h*bands || bands > 4 {
		return fmt.Errorf("%w: px=%d read %d bytes of a %dx%d image of %d bands", errUnpriced, n, len(raw), w, h, bands)
	}
	blocks := blockAverages(raw, w, h, bands, n)
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, blocks); err != nil {
		return fmt.Errorf("px: %w", err)
	}
	out, err := vips.LoadImageFromBuffer(b.Bytes(), vips.NewImportParams())
	if err != nil {
		return vipsError("px", err)
	}
	j.img.Close()
	j.img = out
	j.kill.retrack(out)
	if err := out.Zoom(n, n); err != nil {
		return vipsError("px", err)
	}
	if err := out.ExtractArea(0, 0, w, h); err != nil {
		return vipsError("px", err)
	}
	return nil
}

// blockAverages is the average of each n x n block of raw, w x h pixels of
// bands interleaved 8-bit samples (grey, grey and alpha, RGB or RGBA), as
// an image of one pixel a block: grey, or NRGBA.
func blockAverages(raw []byte, w, h, bands, n int) image.Image {
	bw, bh := ceilDiv(w, n), ceilDiv(h, n)
	alpha := bands == 2 || bands == 4
	colours := bands
	if alpha {
		colours--
	}
	var grey *image.Gray
	var rgba *image.NRGBA
	if bands == 1 {
		grey = image.NewGray(image.Rect(0, 0, bw, bh))
	} else {
		rgba = image.NewNRGBA(image.Rect(0, 0, bw, bh))
	}
	sums := make([]uint64, bw*4) // colour bands (weighted by alpha), then alpha
	for by := range bh {
		clear(sums)
		y0, y1 := by*n, min(by*n+n, h)
		for y := y0; y < y1; y++ {
			row := raw[y*w*bands : (y+1)*w*bands]
			for x := range w {
				p, s := row[x*bands:x*bands+bands], sums[x/n*4:x/n*4+4]
				a := uint64(255)
				if alpha {
					a = uint64(p[bands-1])
					s[3] += a
				}
				for c := range colours {
					s[c] += uint64(p[c]) * a
				}
			}
		}
		for bx := range bw {
			s := sums[bx*4 : bx*4+4]
			count := uint64((y1 - y0) * (min(bx*n+n, w) - bx*n))
			weight := count * 255
			if alpha {
				weight = s[3]
			}
			var px [4]uint8
			for c := range colours {
				if weight > 0 {
					px[c] = uint8((s[c] + weight/2) / weight)
				}
			}
			px[3] = 255
			if alpha {
				px[3] = uint8((s[3] + count/2) / count)
			}
			if grey != nil {
				grey.Pix[by*grey.Stride+bx] = px[0]
				continue
			}
			if colours == 1 {
				px[1], px[2] = px[0], px[0]
			}
			copy(rgba.Pix[by*rgba.Stride+bx*4:], px[:])
		}
	}
	if grey != nil {
		return grey
	}
	return rgba
}

// fillBlurSigma is the gaussian a blurred fill is drawn with over a box of
// w x h: a twentieth of its shorter side, at least 1, so that the fill looks
// the same at every size (imgix: "identical to the blur parameter but
// applied only to the excess space", whose amount it does not give for
// images; for video its automatic fill-blur is min(w, h)/20).
func fillBlurSigma(w, h int) float64 { return max(1, float64(min(w, h))/20) }

// fillBlurSmallSigma is the sigma the fill's gaussian is drawn with, at
// 1/k of the box, k = fillBlurScale: a gaussian of sigma s at 1/k and
// enlarged k times is one of sigma about s·k, for a k-squared-th of the
// work (blur=2000 over a 4000x3000 box would take about 14 s of CPU).
const fillBlurSmallSigma = 2

func fillBlurScale(sigma float64) int { return max(1, int(sigma/fillBlurSmallSigma)) }

// blurFill draws fill=blur: the resized image in the middle of a copy of
// it that covers the box (scaled by cover, centred, cut to the box),
// blurred with fillBlurSigma. The image is drawn into memory first unless
// it was (settled): both the copy and the image read it. The copy is made
// at 1/k of the box, blurred there, extended by copying its edges (as the
// gaussian extends them) and enlarged k times, and the box is cut from it
// where it lines up with the image: cut from the middle, the fill stood
// pixels off (half a pixel of the copy, k/2 of the box, each time libvips
// enlarges it).
func blurFill(j *job, settled bool) error {
	if !settled {
		if err := settle(j); err != nil {
			return err
		}
	}
	fg := j.img
	rw, rh, bw, bh := fg.Width(), fg.PageHeight(), j.plan.boxW, j.plan.boxH
	sigma := fillBlurSigma(bw, bh)
	k := fillBlurScale(sigma)
	cover := max(float64(bw)/float64(rw), float64(bh)/float64(rh))
	s1 := cover / float64(k)
	bg, err := blurredCopy(fg, s1, sigma/float64(k))
	if err != nil {
		return err
	}
	fail := func(err error) error {
		bg.Close()
		return vipsError("fill", err)
	}
	// Where the box's first pixel is in the copy. Its centre is at index
	// u = (0.5 - b/2)/cover + r/2 + 0.5 of the image with its copied edges
	// (r, b the image's side and the box's). libvips 8.14 maps an index j
	// of a reduce by s to (j+0.5)/s - 0.5 of its input (pixel centres),
	// and of an enlargement by s to j/s - 0.5 (measured: a 4-pixel ramp
	// enlarged ten times reaches its second sample at 15): so the copy's
	// index for u is (u+0.5)·s1, less 0.5 when reduced, and margin more
	// with the copy's edges.
	origin := func(r, b int) float64 {
		u := (0.5-float64(b)/2)/cover + float64(r)/2 + 0.5
		j := (u + 0.5) * s1
		if s1 < 1 {
			j -= 0.5
		}
		return j + fillMargin
	}
	// Only the part of the copy under the box, and a pixel around it for
	// the enlargement, is drawn, once, into memory: the enlargement asks it
	// for a few pixels per tile of the box, and libvips reduced and blurred
	// the image again for each (a 3x1 rect enlarged into a 4000x4000 box
	// took 5.4 s of CPU, 0.4 s without the fill); drawn whole, the copy of
	// a thin image covering a wide box is far larger than the box (a
	// 16x16 drawing in a 4000x16 box: 4000x4000, 87 MiB).
	jx, jy := origin(rw, bw), origin(rh, bh)
	cut := func(j float64, b, side int) (lo, n int) {
		lo = max(0, int(math.Floor(j))-2)
		hi := min(side, int(math.Ceil(j+float64(b)/float64(k)))+3)
		return lo, hi - lo
	}
	sx, sw := cut(jx, bw, bg.Width())
	sy, sh := cut(jy, bh, bg.Height())
	if err := bg.ExtractArea(sx, sy, sw, sh); err != nil {
		return fail(err)
	}
	small, _, err := drawn(bg)
	bg.Close()
	if err != nil {
		return err
	}
	bg = small
	jx, jy = jx-float64(sx), jy-float64(sy)
	x0, y0 := int(math.Round(jx)), int(math.Round(jy))
	if k > 1 {
		if err := bg.ResizeWithVScale(float64(k), float64(k), vips.KernelLinear); err != nil {
			return fail(err)
		}
		x0, y0 = int(math.Round(float64(k)*(jx+0.5))), int(math.Round(float64(k)*(jy+0.5)))
	}
	if gw, gh := bg.Width(), bg.Height(); x0 < 0 || y0 < 0 || x0+bw > gw || y0+bh > gh {
		bg.Close()
		return fmt.Errorf("%w: fill=blur's copy is %dx%d, the box %dx%d at %d,%d", errUnpriced, gw, gh, bw, bh, x0, y0)
	}
	if err := bg.ExtractArea(x0, y0, bw, bh); err != nil {
		return fail(err)
	}
	// The image replaces what is under it, its transparency included:
	// imgix fills "only the excess space".
	if err := bg.Insert(fg, (bw-rw)/2, (bh-rh)/2, false, nil); err != nil {
		return fail(err)
	}
	j.img.Close()
	j.img = bg
	j.kill.retrack(bg)
	return nil
}

// fillMargin is how many copied pixels blurredCopy adds around the copy, so
// that the box's edges read copied edges, as the gaussian extends them, and
// never past the copy.
const fillMargin = 2

// blurredCopy is fill=blur's background: fg with its edges copied a pixel
// around it, resized by scale and blurred by sigma, with fillMargin copied
// pixels around that.
func blurredCopy(fg *vips.ImageRef, scale, sigma float64) (*vips.ImageRef, error) {
	bg, err := fg.Copy()
	if err != nil {
		return nil, vipsError("fill", err)
	}
	err = bg.Embed(1, 1, fg.Width()+2, fg.PageHeight()+2, vips.ExtendCopy)
	if err == nil {
		err = bg.ResizeWithVScale(scale, scale, vips.KernelLanczos3)
	}
	if err == nil {
		err = bg.GaussianBlur(sigma)
	}
	if err == nil {
		err = bg.Embed(fillMargin, fillMargin, bg.Width()+2*fillMargin, bg.Height()+2*fillMargin, vips.ExtendCopy)
	}
	if err != nil {
		bg.Close()
		return nil, vipsError("fill", err)
	}
	return bg, nil
}
