package libvips

import (
	"fmt"
	"math"
	"time"

	"imgedge/transform"
	"imgedge/transform/faces"
)

// cost is what one render will hold and do, estimated from the source's
// header and the size plan before any pixel is decoded. Admission weighs
// renders by memory; the limits refuse what no budget should run.
type cost struct {
	asked      int64            // w x h as requested (after dpr), when both are given
	outW, outH int              // one output frame, as encoded
	frames     int              // output frames (1 unless animated)
	loadW      int              // loaded width, one frame (after shrink-on-load or rasterisation)
	loadH      int              //
	format     transform.Format // the format the encoder is expected to write
	memory     int64            // bytes the render is expected to hold at its peak
	blurWork   float64          // output pixels x blur sigma: the gaussian's work grows with both
	cpu        time.Duration    // one core's time the render is expected to take
	svgDraw    time.Duration    // of cpu, librsvg's: parsing and drawing an SVG source
	gifDecode  time.Duration    // of cpu, libnsgif's composing of the frames before the one loaded
	svgW, svgH int              // the size the SVG is drawn at
}

// heavy reports a render long enough that it must not take every slot:
// heavy renders get at most half of them, so small ones keep flowing while
// a handful of costly requests run.
func (c cost) heavy() bool { return c.cpu > heavyRender }

// heavyRender is the estimated time above which a render is heavy: ten
// times a typical miss (a 300 px WebP from a 1600x1200 JPEG takes 14 ms).
const heavyRender = 150 * time.Millisecond

// Nanoseconds of one core per output pixel that each encoder takes,
// measured with libvips 8.14 on this machine, one thread, each encoder
// alone on an image already in memory at the settings encode uses, over
// the camera photo (12 and 3 MP), 2000x2000 colour noise, RGBA noise, and
// 32x32 PNGs enlarged to 2000x2000 (large flat areas), taking the worst:
// JPEG 3 to 10; progressive JPEG 9 to 35 (noise); PNG 21 to 282 (the
// photo: filter ALL at zlib level 6 tries every filter on every row);
// WebP 50 to 143 (noise); AVIF at effort 2 180 to 948 (RGBA noise, its
// alpha a second AV1 picture; 623 for the enlarged PNG at 7.8 MP, 253 for
// the photo); JPEG XL 42 to 139 (RGBA noise); GIF 71 to 2,140 (noise at
// 1 MP; libimagequant's histogram and remap), see gifSmallNanos. Rounded
// so the worst is within 1.5 times the price, as noisy content is what an
// attacker sends; but AVIF's worst is 2.1 times its price (within the
// cost oracle's factor of 3), because priced for noise a 600 px AVIF of a
// photo, a typical miss of about 100 ms, would be heavy.
var encodeNanosPerPixel = map[transform.Format]float64{
	transform.FormatJPEG:  12,
	transform.FormatPJPEG: 30,
	transform.FormatPNG:   280,
	transform.FormatWebP:  96,
	transform.FormatAVIF:  450,
	transform.FormatJXL:   139,
	transform.FormatGIF:   1400,
}

// encodeAlphaNanos and encodeAlphaBytes are what an output's alpha adds
// per pixel where the encoder compresses it apart: WebP's alpha plane and
// JPEG XL's extra channel, losslessly. On 2000x2000 RGBA noise WebP took
// 245 ns a pixel and 36.6 bytes of RSS (143 ns and 20.8 bytes without
// alpha), JPEG XL 263 ns (91) and 81 bytes (65.5); the cost oracle's
// 16-bit RGBA noise enlarged to a 4000x4000 WebP took 7.6 s of CPU
// against 2.8 estimated.
var (
	encodeAlphaNanos = map[transform.Format]float64{transform.FormatWebP: 150, transform.FormatJXL: 170}
	encodeAlphaBytes = map[transform.Format]int64{transform.FormatWebP: 12}
)

// gifSmallNanos is what a GIF's first gifSmallPixels pixels cost besides:
// libimagequant quantises a small photo's every colour, so a 300x225 GIF
// of the camera photo took 230 ms and a 300x450 one 234 ms, where 64x64
// took 14 ms.
const (
	gifSmallNanos  = 3000
	gifSmallPixels = 1 << 16
)

// Every frame of an animation costs besides its pixels: libvips reads each
// from the decoder and cgif writes each with its own palette. The cost
// oracle measured the corpus' GIF of 4,097 frames of 1x1 at 157 ms of CPU
// to a GIF (18 ms estimated from its pixels), 18 ms to a WebP: 34 and 4
// microseconds a frame; rounded up.
const (
	frameNanos    = 5_000
	gifFrameNanos = 40_000
)

// avifEffortCost is AVIF's encode time at each effort (1..6) against
// effort 2, the one encodeNanosPerPixel was measured at: medians of three
// runs over the benchmark photos within 600x600 at Q 50, 65 and 80, one
// encode at a time, on a loaded machine (BenchmarkQualitySweep;
// bench/RESULTS.md, "Image quality").
var avifEffortCost = [...]float64{1: 0.6, 2: 1, 3: 2.1, 4: 5, 5: 6.6, 6: 16}

const (
	blurNanosPerSigma = 12
	// blurStripRows is the output rows the gaussian computes at a time.
	blurStripRows = 128
	// sharpenNanosPerPixel is sharp= per output pixel: libvips' sharpen
	// works in LabS, there and back, whatever its sigma: 75 ns on the
	// camera photo at 2000x1500, 83 to 93 on 2000x2000 noise, sigma 0.5 to
	// 2; rounded up. The cost oracle found it unpriced: a 100x100 GIF
	// padded to 2064x2064 and sharpened took 507 ms against 86 estimated.
	sharpenNanosPerPixel = 100
	// satNanosPerPixel is sat= per output pixel: govips' modulate goes to
	// LCh and back, 53 ns on the camera photo, 160 on a 16-bit RGBA
	// image. toneNanosPerPixel is bri, con, invert and gam: one linear map
	// or power and a cast, 4 ns on the photo; rounded up.
	satNanosPerPixel  = 160
	toneNanosPerPixel = 10
	satSplitBytes     = 20 << 20
	// satSplitColumnBytes: and per output column, which wins on wide
	// outputs: the modulate's rows of the colour bands split off hold
	// 13.9 to 14.4 KiB a column whatever the height (a 60x1 rect of an
	// RGBA WebP enlarged to 2000, 4000 and 8000 wide: 28.2, 55.4 and 111.0
	// MiB tracked; the cost oracle found the 4000-wide one at 1.83 times
	// its estimate).
	satSplitColumnBytes = 15 << 10
	sharpenAlphaBytes   = 12 << 20
	// trimNanosPerBand is trim= per band and pixel of the frame it
	// searches: libvips' find_trim runs a median over the whole frame
	// before it thresholds it (46 ns on the camera photo, 60 on a 16-bit
	// RGBA PNG of noise, whose trim took 1.5 s against 231 ms estimated
	// for the rest of its render).
	trimNanosPerBand = 60
	// jxlDecode is what a JPEG XL source costs beside its pixels: libjxl
	// draws every frame and feature (splines, patches) up to the one
	// libvips reads, which its header does not show. The corpus' 320x320
	// animation with splines took 127 ms to decode, where its pixels
	// price 4 ms.
	jxlDecode = 150 * time.Millisecond
	// smartCropNanosPerPixel is crop=attention or entropy per pixel of the
	// resized image it scores, measured by a cost oracle run (one render per
	// child process, CPU from getrusage): 1.04 s for a 2000x2000 resize of a
	// 32x32 PNG (basi2c08.png), 283 ms for a 1200x800 resize of a JPEG
	// (landscape-kayak-unsplash.jpg), the resize and encode included;
	// rounded up.
	smartCropNanosPerPixel = 300
	// resizeNanosPerPixel is an enlarging Lanczos resize per pixel it
	// computes, from the same runs: a 32x32 PNG enlarged to 2000x2000 as
	// progressive JPEG took 426 ms of CPU against 97 ms estimated without
	// it. libvips computes only what is kept of it: fit=crop cuts the box
	// from it lazily.
	resizeNanosPerPixel = 70
)

// What imgix's adjustments cost, measured as sharpen's and sat's were:
// CPU of renders to 2000x2000 with and without the adjustment, medians of
// five, from the camera photo, 2000x2000 colour noise and RGBA noise.
const (
	// curveNanosPerPixel is exp, high and shad: one lookup a sample
	// (toneCurve), 0.5 to 1.5 ns on the photo and the noise, 4.5 on RGBA
	// noise, whose alpha is split off and joined back; rounded up.
	curveNanosPerPixel = 6
	// matrixNanosPerPixel is hue, sepia and monochrome: one matrix as
	// three scaled copies of the bands, turned, and their sum (recomb),
	// 16 to 19 ns on the photo and the noise, 22 on RGBA noise; rounded up.
	matrixNanosPerPixel = 30
	// curveColumnBytes and matrixColumnBytes are what their operations
	// hold per column of the image, whatever its height: rows of float
	// bands for each step of the graph. A 60x1 rect of 2000x2000 noise
	// enlarged to 8000x133 held 20.2 MiB more for hue (2.6 KiB a column),
	// 22.8 MiB with alpha (2.9 KiB); 8000x800, the same; the tone curve
	// 0.7 and 2.5 MiB. Rounded up.
	curveColumnBytes  = 1 << 10
	matrixColumnBytes = 4 << 10
	// vibNanosPerPixel is vib: to CIE LCh and back, the chroma squared,
	// scaled and summed (vibrance), 86 to 92 ns on the photo and both
	// noises, as sat's modulate; rounded up. vibColumnBytes: 4.2 KiB a
	// column (8000x133 enlarged from a rect of noise), 4.6 with alpha, 5.0
	// at 8000x800; rounded up.
	vibNanosPerPixel = 130
	vibColumnBytes   = 6 << 10
	// usmNanosPerPixel is usm besides its gaussian (priced as blur's,
	// blurNanosPerSigma): the blend of the image and its blur, 14 to 29
	// ns with a gaussian of sigma 2.5 on the photo, the noise and RGBA
	// noise (where the gaussian alone is priced 30); sigma 50 took 585 to
	// 622 ns, priced 620.
	usmNanosPerPixel = 20
	// usmGaussianFactor is usm's gaussian against blur's at the same sigma:
	// it reads its input twice, the image and its blurred copy, and on RGBA
	// outputs (1600x1000, usmrad=100; 8192x19 with blur=2000) it took 1.55
	// to 1.63 times blur's price.
	usmGaussianFactor = 1.65
	// pxNanosPerPixel is px: the image drawn into memory, averaged block
	// by block and the blocks enlarged back (pixellate), 10 to 26 ns on
	// RGBA noise at 2000x2000 and 8000x800, blocks of 2 to 100, the
	// encoder's savings on flat blocks aside; rounded up.
	pxNanosPerPixel = 40
	// fillBlurNanosPerBand is fill=blur per pixel and band of the box:
	// the blurred copy enlarged to it and the image inserted (blurFill),
	// besides the copy's reduce from the resized image (priced as a
	// reduce). 2000x2000 noise in 8000x1000 boxes as WebP took 16 ns a
	// pixel more over RGB, 29 over RGBA; a 60x20 rect of it enlarged into
	// them 11 and 110 besides the reduce (27 a band); rounded up.
	fillBlurNanosPerBand = 30
)

// What a reduce (libvips' resize to a smaller size, from a whole frame in
// memory) takes. With its reducing gap of 2, vips_resize shrinks by the
// integer part s of half the ratio before its Lanczos kernel, and on an
// image opened for random access that shrink is computed again for every
// tile the kernel reads: per band and pixel read, 20 to 40 ns at s 2
// (1/4; a 16000x200 RGBA PNG 40, the camera photo 19, a grey 7000x7000
// 30), 13 at s 4, 7 to 9 at s 5 and 8, against 1.3 to 2.2 ns without a
// shrink (1/2), 5 to 6 when the image has alpha (govips premultiplies it
// into floats). Rounded up as reduceNanos. Without a shrink the kernel's
// buffers are float rows of the input's width when it has alpha: 225 to
// 350 rows measured (a 16000-wide RGBA image, 62 to 89 MiB); with one,
// they are too small to measure.
const reduceBufferRows = 360

// reduceNanos is the CPU of reducing by ratio (the larger of the two
// axes') per band and pixel read.
func reduceNanos(ratio float64, alpha bool) float64 {
	if s := math.Floor(ratio / 2); s >= 2 {
		return 6 + 68/s
	}
	if alpha {
		return 6
	}
	return 3
}

// settleCopies: a settled image is held by libvips' TIFF writer, by Go and
// by the loader that reads it back (settle).
const settleCopies = 3

// Per-pixel costs, in bytes, of what libvips 8.14 and its codecs hold while
// encoding. First measured as the peak RSS growth (VmHWM) of one render of
// the 4000x3000 camera JPEG to a 4096x4096 output on this machine (2
// cores), per output pixel: JPEG 5.7 (progressive the same), PNG 4.7,
// JPEG XL 45.8 (libjxl, effort 3), the decode of the source and the output
// bytes included. Then each encoder alone over the images encodeNanosPerPixel
// names: PNG 5.5 (noise), WebP 6.2 for the photo but 20.8 for noise (see
// encodeAlphaBytes for alpha), JPEG XL 65.5 (noise) and 81 (RGBA noise),
// GIF 27.7 to 58.6 (noise at 1 MP: libimagequant holds the image as
// floats to remap it). AVIF is priced per padded pixel (avifPaddedBytes).
// Rounded up, or to within 1.5 times the worst.
var encoderBytesPerPixel = map[transform.Format]int64{
	transform.FormatJPEG:  6,
	transform.FormatPJPEG: 6,
	transform.FormatPNG:   6,
	transform.FormatWebP:  20,
	transform.FormatJXL:   56,
	transform.FormatGIF:   48,
}

// AVIF: libaom pads each frame by a border of 288 pixels on every side, so
// what it holds grows with (w + 576) x (h + 576): a 64x7900 output held 66
// MiB, 13 bytes a padded pixel; the camera photo 16; flat content
// enlarged from 7x7 to 2000x2000 and 2800x2800 47 and 49 (307 and 507
// MiB).
const (
	avifPad         = 576
	avifPaddedBytes = 32
)

const (
	// renderBaseBytes is what any render holds whatever its size: tile
	// buffers, the libvips operation graph, codec state.
	renderBaseBytes = 8 << 20
	// blurWorkPerOutputPixel: blur sigma allowed per pixel of
	// limits.max_output_pixels, so that a full-size output may take a
	// blur of sigma 10 and a tenth of it sigma 100 (the largest blur=2000).
	blurWorkPerOutputPixel = 10
)

// What librsvg 2.54.7 takes to parse and draw an SVG under libvips 8.14.1,
// from transform.CanonicalSVG's counts, measured on this machine with one
// thread (peak RSS growth and elapsed time of vips avg on generated
// documents of 100 to 100,000 elements, 1000 to 4000 pixels square).
// libvips' svgload draws the document in tiles of svgTile pixels square and
// librsvg draws the whole document for each tile; a translucent element and
// a mask each composite a surface the size of the whole canvas.
const (
	svgTile = 2000
	// svgParseNanosPerElement: parse and node tree, per element and load
	// (the header read and the load at the planned size each parse).
	svgParseNanosPerElement = 4000
	// svgNodeBytes: librsvg's node and specified values, per element
	// (2.0 to 2.4 KB each in a 100,000-element document).
	svgNodeBytes = 2560
	// svgDrawNanos: one element drawn (a small shape), per tile.
	svgDrawNanos = 2500
	// svgLayerNanosPerPixel: a translucent element, per canvas pixel and
	// tile (100 nested full-canvas groups: 3.2 ns; small ones side by
	// side: 0.2-0.3).
	svgLayerNanosPerPixel = 3
	// svgMaskNanosPerPixel: a mask, per canvas pixel and tile (4.7 ns with
	// one tile, 9 with four, page faults included).
	svgMaskNanosPerPixel = 9
	// svgPaintNanosPerPixel: a shape painted with a gradient, per canvas
	// pixel it may cover (200 canvas-sized rectangles with a
	// radial gradient at 2000x2000: 11.1 s, 13.9 ns a pixel each).
	svgPaintNanosPerPixel = 15
	// svgTextNanos: a <text> element's layout, per character squared and
	// tile (librsvg 2.54 through Pango: 4,000 characters without a space
	// 0.86 s, forty of 500: 0.67 s).
	svgTextNanos = 100
	// svgPathNanos and svgPathCrossNanos: a path's edges, per canvas row
	// each tile draws (the canvas height times the tiles across it), per
	// number and command of its data (SVG.PathVerts) and per n·√n
	// (SVG.PathWork); svgPathTileNanos, per n·√n and tile whatever its
	// rows. Random points joined by lines, curves or arcs, whose edges
	// cross the canvas and one another, are Cairo's worst case: one path
	// of 3,000 lines took 0.28 s at 32x32, 0.55 s at 250x250, 1.5 s at
	// 1000x1000 and 12.8 s at 4000x4000 (four tiles, two across); 12,000
	// lines 2.1 s at 64x64 and 11.4 s at 1000x1000; 1,000 curves 1.1 s;
	// 1,000 paths of 10 lines 0.26 s; a path of 3,000 short steps 0.05 s.
	// Fitted to the random ones, by which the short steps are overpriced
	// thirtyfold: the data does not say where its edges go.
	svgPathNanos      = 9
	svgPathCrossNanos = 1.7
	svgPathTileNanos  = 350
	// svgPathBytes: what Cairo holds per n·√n of a path while it draws
	// it (one path of 12,000 random lines: 37 MiB of RSS growth above the
	// document's base, 5.7 bytes each); rounded up.
	svgPathBytes = 6
	// svgDashNanos and svgDashBytes: a dash stroked (SVG.Dashes), per
	// tile: Cairo strokes every dash along the outline, off the canvas
	// included, and holds each one's outline (a line dashed 50 million
	// times: 14.7 s of CPU and 2.1 GB).
	svgDashNanos = 300
	svgDashBytes = 40
	// svgCrossingNanos: a crossing of a path's segments (SVG.PathCrossings),
	// per tile: Cairo's tessellator stops at each. Random points joined by
	// lines, at 100x67: 2,500 points (0.7 M crossings) 0.24 s, 10,000 (11.8
	// M) 2.9 s, 25,000 (70 M) 30.7 s; fitted to the last, the largest per
	// crossing.
	svgCrossingNanos = 450
	// svgRasterBytesPerPixel: an embedded raster as gdk-pixbuf decodes it
	// and librsvg holds it as a Cairo surface (a 6000x6000 PNG: 250 MB of
	// RSS growth for RGB, 290 MB for 16-bit RGBA).
	svgRasterBytesPerPixel = 8
	// svgDocCopies: the canonical document is held by Go, by libvips'
	// blob and as librsvg's attribute strings.
	svgDocCopies = 3
)

// What a loader holds and takes per loaded pixel. govips opens every
// source for random access, and libvips 8.14's loaders are sequential, not
// partial: each source is decoded whole into memory, the frame at the bands
// and sample size its header gives, while about loadStripRows rows of it
// wait in the line cache between the decoder and the frame. Some codecs
// hold more of their own beside it. Measured with one thread, loading and
// averaging the 12 MP camera photo and a 2000x2000 image of colour noise,
// each saved by vips in the format (RSS growth per pixel, CPU per pixel,
// photo then noise): JPEG 3.6 B, 8 ns; PNG 3.6 B, 24 and 20 ns; TIFF with
// deflate 3.6 B, 10 ns; GIF 7.6 B (libnsgif's own RGBA bitmap), 14 and
// 16 ns; lossy WebP 15.1 B as libvips counts it (8.1 B of RSS), 16 and
// 45 ns; AVIF 9.5 and 11.3 B, 32 and 51 ns; HEIC 8.3 and 10.8 B, 38 and
// 81 ns; JPEG XL 6.6 and 7.4 B, 23 and 37 ns. A JPEG decoded in strips
// was the old assumption: the rect of a 12 MP JPEG held 1.9 times its
// estimate. Rounded up; a watermark is priced as a PNG.
var decodeNanosPerPixel = map[transform.Format]float64{
	transform.FormatJPEG: 10,
	transform.FormatPNG:  25,
	transform.FormatTIFF: 15,
	transform.FormatGIF:  20,
	transform.FormatWebP: 50,
	transform.FormatAVIF: 60,
	transform.FormatHEIF: 90,
	transform.FormatJXL:  40,
	transform.FormatSVG:  25, // its embedded rasters
}

// cmykNanosPerPixel is lcms' conversion of a decoded CMYK pixel to sRGB
// (toSRGB), through the file's profile or libvips' default CMYK one: a
// 7600x5700 CMYK JPEG to the same size took 5.6 s of CPU, the same image in
// RGB 1.8 s, about 88 ns a pixel more (2 vCPU).
const cmykNanosPerPixel = 95

// An animated WebP's frames before the one asked for: each decoded, per
// pixel of its own and per coded byte (the entropy decoding, which content
// an attacker picks drives: it cannot outgrow the bytes sent), and blended
// onto the whole canvas. 50 flat frames of 2000x2000 cost 0.52 s for
// frame=50, 150 of 4000x4000 11.9 s.
const (
	webpFrameNanosPerPixel = 4
	webpFrameNanosPerByte  = 100
	webpBlendNanosPerPixel = 3
)

// avifBlockyFactor is AVIF's encode time on an image of flat blocks (px)
// against a photo's.
const avifBlockyFactor = 4

// gifRestoreNanosPerPixel is libnsgif's copy of the canvas, per canvas
// pixel, for a frame whose disposal restores the previous canvas: frame 500
// of a 7000x7000 screen of 1x1 frames each restoring took 22.4 s of CPU,
// 0.91 ns a canvas pixel a frame (2 vCPU), against 2.15 s priced before.
const gifRestoreNanosPerPixel = 1.0

// avifCodedBytesPerPixel is what libheif holds per pixel its AV1 data
// codes beyond the size libvips was told.
const avifCodedBytesPerPixel = 8

// maxJPEGScans bounds a JPEG's scans. Encoders write 10
// (libjpeg's jpeg_simple_progression) to about 20 (mozjpeg's optimised
// scans); a valid progression can have thousands, each read over the whole
// image inside libjpeg's start of decompression, where a render cannot be
// stopped. libjpeg-turbo's own tools offer the same bound for untrusted
// files (djpeg -maxscans).
const maxJPEGScans = 100

// jpegScanNanosPerBlock is one scan's work per 8x8 block: a 7000x7000
// three-component JPEG of 2,647 single-component scans decoded in 44.8 s,
// 22 ns per block visited.
const jpegScanNanosPerBlock = 22

// jpegEntropyNanosPerByte is libjpeg's Huffman decoding per byte of a
// JPEG, which it does for every coefficient whatever the shrink-on-load
// (the DCT scaling saves the inverse transforms, not the entropy decoding):
// priced per decoded pixel alone, the 4000x3000 camera photo to w=200 took
// 34 ms against 4 ms estimated (2.6 MB, Q90) and 60 against 4 at Q98 (5.1
// MB), 11 to 12 ns a byte; progressive, 226 ms (3.3 MB, Q95) and 105 (1.2
// MB, Q75) against 45 with the scans priced, 51 to 55 ns a byte beside
// them (the refinement scans read each coefficient's bits again).
var jpegEntropyNanosPerByte = [2]float64{12, 55} // baseline, progressive

// jpegEntropyNanos is jpegEntropyNanosPerByte for a JPEG of n bytes and
// the progression p.
func jpegEntropyNanos(n int, p transform.JPEGProgression) float64 {
	if p.Scans > 1 {
		return float64(n) * jpegEntropyNanosPerByte[1]
	}
	return float64(n) * jpegEntropyNanosPerByte[0]
}

// decodeCodecBytesPerPixel is what a codec holds beside libvips' frame,
// per loaded pixel (see decodeNanosPerPixel).
var decodeCodecBytesPerPixel = map[transform.Format]int64{
	transform.FormatGIF:  5,
	transform.FormatWebP: 12,
	transform.FormatAVIF: 8,
	transform.FormatHEIF: 7,
	transform.FormatJXL:  8,
}

// codecBytes is decodeCodecBytesPerPixel for j's source. libjxl holds far
// more for alpha and for 16 bits: decoding 1000x1000 images, 11.7 bytes a
// pixel of RSS for 8-bit RGB, 25 for 16-bit RGB, 49 for 8-bit RGBA, 57 for
// the corpus' 16-bit RGBA (jxl-alpha_premultiplied.jxl, which the cost
// oracle measured at 2.1 times its estimate of RSS), frame included.
func codecBytes(j *job) int64 {
	if j.srcFmt == transform.FormatJXL {
		switch {
		case j.alpha:
			return 44
		case j.sample > 1:
			return 20
		}
	}
	return decodeCodecBytesPerPixel[j.srcFmt]
}

// loadStripRows is the line cache between a loader and the frame it fills:
// 590 to 655 rows of the frame's width, measured on PNGs 200 to 16,000
// pixels wide and a JPEG, and the whole frame again when it has fewer rows
// (16000x200: 24.7 MiB for a 12.2 MiB frame).
const loadStripRows = 640

// decodedBytes is what the decode of j's source holds: the frame (every
// frame of an animation), its line cache and the codec's own. An SVG is
// drawn into four bands of its sample size.
func decodedBytes(j *job, loadW, loadH, frames int) int64 {
	bands, sample := j.layout()
	if j.srcFmt == transform.FormatSVG {
		bands = 4
	}
	px := int64(loadW) * int64(loadH) * int64(frames)
	row := int64(loadW) * bands * sample
	return px*(bands*sample+codecBytes(j)) + min(loadStripRows, int64(loadH)*int64(frames))*row
}

// layout is the bands and the bytes of a sample of j's source as decoded;
// four bands when they are not known (a job priced without libvips).
func (j *job) layout() (bands, sample int64) {
	bands, sample = int64(j.bands), int64(max(j.sample, 1))
	if bands == 0 {
		bands = 4
	}
	return bands, sample
}

// estimate prices j from the header (j.sw, j.sh, j.pages), the
// plan and the format chosen for the output.
func estimate(j *job, format transform.Format) cost {
	pd := j.spec.Pad
	c := cost{outW: j.plan.boxW + pd[1] + pd[3], outH: j.plan.boxH + pd[0] + pd[2], frames: 1, format: format,
		asked: int64(j.spec.Width) * int64(j.spec.Height)}
	if j.animated {
		c.frames = j.pages
	}
	if format == transform.FormatJSON {
		// Described from the header, which inspect has read: nothing is
		// decoded or drawn, unless faces=1 asks for the faces.
		c.memory = renderBaseBytes
		if j.spec.FacesJSON {
			// The faces of the source's first frame are looked for on its
			// own decode (faceCost); of another frame, or of an SVG, on the
			// frame as loaded.
			c.loadW, c.loadH = ceilDiv(j.sw, max(j.opts.shrink, 1)), ceilDiv(j.sh, max(j.opts.shrink, 1))
			if !j.wholeSourceFaces() {
				c.memory += decodedBytes(j, c.loadW, c.loadH, 1)
				c.cpu = time.Duration(float64(int64(j.sw)*int64(j.sh)) * decodeNanosPerPixel[j.srcFmt])
				c.svgCost(j)
			}
			c.faceCost(j)
		}
		return c
	}
	c.loadW, c.loadH = j.sw, j.sh
	switch {
	case j.opts.shrink > 1:
		c.loadW, c.loadH = ceilDiv(j.sw, j.opts.shrink), ceilDiv(j.sh, j.opts.shrink)
	case j.srcFmt == transform.FormatSVG:
		// Drawn at the planned density, or at its natural size when the
		// plan loads it whole (rect, trim).
		if j.opts.dpi > 0 {
			c.loadW, c.loadH = ceilDiv(j.sw*j.opts.dpi, 72), ceilDiv(j.sh*j.opts.dpi, 72)
		}
	}
	out := int64(c.outW) * int64(c.outH) * int64(c.frames)
	loaded := int64(c.loadW) * int64(c.loadH) * int64(c.frames)
	// A quarter turn and a smart crop read the whole image before writing
	// a row of output.
	smart := (j.spec.Gravity == transform.GravityEntropy || j.spec.Gravity == transform.GravityAttention) &&
		(j.plan.boxW != j.plan.resizeW || j.plan.boxH != j.plan.resizeH)
	resized := int64(j.plan.resizeW) * int64(j.plan.resizeH) * int64(c.frames)
	c.codecCost(j, out, loaded, resized, smart)
	c.svgCost(j)
	if smart {
		c.cpu += time.Duration(float64(resized) * smartCropNanosPerPixel)
	}
	c.resizeCost(j, loaded, resized)
	c.filterCost(j, out, loaded)
	c.faceCost(j)
	return c
}

// What looking for faces takes (faceCost): one core's time per tree of the
// cascade a search runs (faces.Trees: at most faces.MaxTrees, 2 million),
// and the detections it holds. The search counts its trees and stops at
// the bound, so its worst case is its price: 84 to 88 ms for the 2 million
// trees of a texture built so that every window runs deep, 42 to 44 ns a
// tree (BenchmarkDetect in transform/faces), priced at 45. Photographs stop
// far earlier (15 ms for pigo's sample). The detections kept are at most one
// scale's windows (52,000 at 24 px on 480x480, 32 bytes each, doubled by the
// slice's growth) and the 2,048 strongest.
const (
	faceTreeNanos = 45
	faceScanBytes = 4 << 20
)

// faceCost adds the face search when the spec needs one: for the whole
// source, its own decode at the search's scale (findFaces); the grey copy
// (a reduce to at most faces.MaxSide a side); and the cascade over it. A
// memo that knows the source's faces makes it free; the price does not
// count on one.
func (c *cost) faceCost(j *job) {
	if !j.spec.NeedsFaces() {
		return
	}
	w, h := c.loadW, c.loadH
	if r := j.rect; r[2] != 0 {
		w, h = min(w, r[2]), min(h, r[3])
	}
	if j.wholeSourceFaces() {
		s := j.faceShrink()
		w, h = ceilDiv(j.sw, s), ceilDiv(j.sh, s)
		decoded := int64(w) * int64(h)
		if j.srcFmt == transform.FormatWebP {
			decoded = int64(j.sw) * int64(j.sh) // libwebp decodes every pixel
		}
		c.memory += decodedBytes(j, w, h, 1)
		c.cpu += time.Duration(float64(decoded) * decodeNanosPerPixel[j.srcFmt])
		c.memory += j.jpeg.CoefficientBytes
		c.cpu += time.Duration(float64(int64(j.jpeg.Scans)*j.jpeg.MaxBlocks) * jpegScanNanosPerBlock)
		if j.srcFmt == transform.FormatJPEG {
			c.cpu += time.Duration(jpegEntropyNanos(len(j.src), j.jpeg))
		}
	}
	gw, gh := faceSide(w, h)
	bands, _ := j.layout()
	ratio := max(float64(w)/float64(gw), 1)
	c.cpu += time.Duration(float64(int64(w)*int64(h)*bands)*reduceNanos(ratio, false) + float64(faces.Trees(gw, gh))*faceTreeNanos)
	c.memory += int64(gw)*int64(gh)*bands + faceScanBytes
}

// codecCost adds the decode, the encode and what they hold: the source as
// loaded, the encoder's buffers, a watermark's decode and reduce, and what
// reading the whole image before a row of output keeps (a quarter turn, a
// smart crop).
func (c *cost) codecCost(j *job, out, loaded, resized int64, smart bool) {
	c.codecMemory(j, out, loaded, resized, smart)
	c.codecCPU(j, out, c.decodedPixels(j, loaded))
}

// codecMemory sets what the decode and the encode hold.
func (c *cost) codecMemory(j *job, out, loaded, resized int64, smart bool) {
	format := c.format
	random := j.spec.Rotate == 90 || j.spec.Rotate == 270 || smart
	// PNG and JPEG XL keep 16 bits a sample, and what they hold grows with
	// it: a 16-bit RGBA PNG of noise enlarged to 4000x4000 grew RSS by 293
	// MiB against 159 estimated, its JPEG XL at 2500x2500 by 588 against
	// 342 (the cost oracle).
	encoderBytes := encoderBytesPerPixel[format]
	if j.alpha {
		encoderBytes += encodeAlphaBytes[format]
	}
	if format == transform.FormatPNG || format == transform.FormatJXL {
		_, sample := j.layout()
		encoderBytes *= sample
	}
	// A watermark is decoded whole (it is small next to the source, but
	// limits.max_source_pixels is all that bounds it), 8-bit RGBA, and
	// reduced to its box with the float rows of a reduce without an
	// integer shrink at worst (a 3000x1000 mark drawn over a 768x512 PNG:
	// 41.4 MiB in libvips, 23.9 estimated without them).
	c.memory = renderBaseBytes + decodedBytes(j, c.loadW, c.loadH, c.frames) +
		out*encoderBytes + j.markPixels*4 + int64(j.markW)*4*4*reduceBufferRows
	if format == transform.FormatAVIF {
		c.memory += int64(c.outW+avifPad) * int64(c.outH+avifPad) * avifPaddedBytes
	}
	if random {
		c.memory += out * 4
	}
	if format == transform.FormatBlurHash {
		// What is hashed is settled first (encodeOrPassthrough): small,
		// but not always (a 227x1 rect asked for h=3000 is hashed from
		// 8192x36, which held 14.6 MiB against 8.9 estimated).
		c.memory += settleCopies * out * 4
	}
	// A smart crop scores the whole resized image, not the box it keeps:
	// priced on the box, basi2c08.png?w=2000&h=300&fit=crop&crop=attention
	// (a 2000x2000 resize) took 1.04 s of CPU against 72 ms estimated.
	if smart {
		c.memory += resized * 4
	}
	if j.srcFmt == transform.FormatWebP && j.opts.shrink > 1 {
		// The scaled decode reaches govips as an uncompressed TIFF: libvips'
		// buffer and its copy in Go memory, 8-bit RGBA at most, while the
		// decode itself is held (loadWebPScaled).
		c.memory += 2 * loaded * 4
	}
}

// decodedPixels is how many pixels the decoder makes, more than are
// loaded for some formats; it adds what those extra pixels hold.
func (c *cost) decodedPixels(j *job, loaded int64) int64 {
	decoded := loaded
	if j.coded > loaded {
		// An AVIF or HEIC decodes what its bitstream codes (its alpha and tiles
		// included), held whole by libheif as planes and again as RGB,
		// whatever its ispe says: a 4000x4000 frame claiming 100x100 grew
		// RSS by 108 MiB.
		decoded = j.coded
		c.memory += (j.coded - loaded) * avifCodedBytesPerPixel
	}
	if j.srcFmt == transform.FormatWebP {
		// libwebp decodes every pixel, however small it scales the rows.
		decoded = int64(j.sw) * int64(j.sh) * int64(c.frames)
	}
	return decoded
}

// codecCPU sets the decode's and the encode's CPU, the watermark's, and
// what a JPEG of several scans reads and holds.
func (c *cost) codecCPU(j *job, out, decoded int64) {
	format := c.format
	encodeNanos := encodeNanosPerPixel[format]
	if j.alpha {
		encodeNanos += encodeAlphaNanos[format]
	}
	if format == transform.FormatAVIF {
		encodeNanos *= avifEffortCost[j.cfg.AVIFEffort]
		if j.spec.Px > 1 {
			// Flat blocks set libaom on its screen-content tools: a 1800x1200
			// photo with px=20 took 3.9 s to encode where it took 1.2 s
			// without (px=5 1.0 s, px=100 2.4 s).
			encodeNanos *= avifBlockyFactor
		}
	}
	// A watermark is decoded, then reduced to its box: priced at the
	// worst reduce, an integer shrink of 2 over four bands. A 640 px WebP
	// of a portrait took 334 ms of CPU with a 3000x1000 RGBA mark drawn
	// over it (110 ms estimated without this), 48 ms with a 300x100 one.
	c.cpu = time.Duration(float64(decoded)*decodeNanosPerPixel[j.srcFmt] +
		float64(j.markPixels)*(decodeNanosPerPixel[transform.FormatPNG]+4*reduceNanos(4, true)) + float64(out)*encodeNanos)
	if j.srcFmt == transform.FormatJPEG {
		c.cpu += time.Duration(jpegEntropyNanos(len(j.src), j.jpeg))
	}
	c.sourceExtras(j, decoded)
	if j.mark != nil && transform.Sniff(j.mark) == transform.FormatJPEG {
		c.cpu += time.Duration(jpegEntropyNanos(len(j.mark), j.markJPEG))
	}
	for _, p := range []transform.JPEGProgression{j.jpeg, j.markJPEG} {
		// A JPEG of several scans (the source or the mark): its whole
		// coefficient buffer, and each scan read over its component's
		// blocks: both before the first row comes out, and at full size
		// whatever the shrink-on-load.
		c.memory += p.CoefficientBytes
		c.cpu += time.Duration(float64(int64(p.Scans)*p.MaxBlocks) * jpegScanNanosPerBlock)
	}
	if format == transform.FormatGIF {
		c.cpu += time.Duration(float64(min(out, gifSmallPixels)) * gifSmallNanos)
	}
	if c.frames > 1 {
		c.cpu += time.Duration(c.frames) * frameNanos
		if format == transform.FormatGIF {
			c.cpu += time.Duration(c.frames) * gifFrameNanos
		}
	}
}

// svgCost adds an SVG's drawing: librsvg's nodes, the elements, text,
// layers, masks, paths and dashes it draws on each tile, and its rasters.
func (c *cost) svgCost(j *job) {
	s := j.svg
	if s == nil {
		return
	}
	// Drawn at the planned density, or at its natural size when the
	// plan loads it whole.
	w, h := c.loadW, c.loadH
	c.svgW, c.svgH = w, h
	canvas, tiles := int64(w)*int64(h), int64(ceilDiv(w, svgTile)*ceilDiv(h, svgTile))
	c.svgDraw = time.Duration(float64(s.Elements)*2*svgParseNanosPerElement +
		float64(s.Instances*tiles)*svgDrawNanos + float64(s.TextWork*tiles)*svgTextNanos +
		float64(canvas*tiles)*(float64(s.Layers)*svgLayerNanosPerPixel+float64(s.Masks)*svgMaskNanosPerPixel) +
		float64(canvas)*float64(s.Paints)*svgPaintNanosPerPixel +
		float64(int64(h)*int64(ceilDiv(w, svgTile)))*(float64(s.PathVerts)*svgPathNanos+float64(s.PathWork)*svgPathCrossNanos) +
		float64(s.PathWork*tiles)*svgPathTileNanos + float64(s.Dashes*tiles)*svgDashNanos +
		float64(s.PathCrossings*tiles)*svgCrossingNanos +
		float64(s.EmbeddedPixels)*decodeNanosPerPixel[transform.FormatSVG])
	c.cpu += c.svgDraw
	c.memory += int64(s.Elements)*svgNodeBytes + int64(len(s.Doc))*svgDocCopies + s.PathWork*svgPathBytes + s.Dashes*svgDashBytes +
		s.EmbeddedPixels*svgRasterBytesPerPixel + int64(s.LayerDepth)*canvas*4
}

// sourceExtras adds what a source's decode takes beyond its pixels: a CMYK
// source's conversion to sRGB, and the frames of an animation decoded
// before the one asked for.
func (c *cost) sourceExtras(j *job, decoded int64) {
	if j.cmyk {
		c.cpu += time.Duration(float64(decoded) * cmykNanosPerPixel)
	}
	canvas := int64(j.sw) * int64(j.sh)
	if j.webpFrames > 1 {
		// libwebp decodes every frame before the one asked for and blends
		// each onto the whole canvas: 150 canvas-sized frames of 4000 a
		// side cost 11.9 s for frame=150 against 1.25 s priced as one.
		c.cpu += time.Duration(float64(j.webpFramePixels)*webpFrameNanosPerPixel + float64(j.webpFrameBytes)*webpFrameNanosPerByte +
			float64(int64(j.webpFrames)*canvas)*webpBlendNanosPerPixel)
	}
	if j.srcFmt == transform.FormatGIF {
		// The frames before the one asked for are decoded too, and a
		// restore of the previous canvas copies the whole of it, and holds
		// the copy.
		c.gifDecode = time.Duration(float64(j.gifPixels)*decodeNanosPerPixel[transform.FormatGIF] +
			float64(int64(j.gifRestore)*canvas)*gifRestoreNanosPerPixel)
		c.cpu += c.gifDecode
		if j.gifRestore > 0 {
			c.memory += canvas * 4
		}
	}
}

// filterCost adds the filters asked for over the output: sharpen,
// saturation, tone, trim's search, blur, and what an SVG read again or a
// JPEG XL decode costs besides.
func (c *cost) filterCost(j *job, out, loaded int64) {
	if j.spec.Sharp > 0 {
		c.cpu += time.Duration(float64(out) * sharpenNanosPerPixel)
		// With alpha, the sharpen works on the colour bands split off:
		// libvips held 15 to 17 MiB for RGBA outputs of 2000x200 to
		// 4000x2000, 4 MiB for RGB (the libvips logo at w=2000&h=200
		// &fit=fill&sharp=73: 17.3 MiB against 11.6 estimated).
		if j.alpha {
			c.memory += sharpenAlphaBytes
		}
	}
	if j.spec.Sat != 0 {
		c.cpu += time.Duration(float64(out) * satNanosPerPixel)
		// govips' modulate splits the alpha off and joins it back, and
		// libvips holds for that whatever the output's size (300 to 2000
		// px square): 8 MiB for sat alone, 13 with bri and con, 14 to 16
		// over a quarter turn, 25 to 27 over a sharpen (whose own 12 are
		// priced below), where images without alpha held 3 to 5; the cost
		// oracle's estimates were 8.6 to 11.6 MiB.
		if j.alpha {
			c.memory += max(satSplitBytes, int64(c.outW)*satSplitColumnBytes)
		}
	}
	if j.spec.Bri != 0 || j.spec.Con != 0 || j.spec.Invert || j.spec.Gam != 0 {
		c.cpu += time.Duration(float64(out) * toneNanosPerPixel)
	}
	if j.spec.Exp != 0 || j.spec.High != 0 || j.spec.Shad != 0 {
		c.cpu += time.Duration(float64(out) * curveNanosPerPixel)
		c.memory += int64(c.outW) * curveColumnBytes
	}
	if j.spec.Hue != 0 || j.spec.Sepia != 0 || j.spec.Monochrome.Set {
		c.cpu += time.Duration(float64(out) * matrixNanosPerPixel)
		c.memory += int64(c.outW) * matrixColumnBytes
	}
	if j.spec.Vib != 0 {
		c.cpu += time.Duration(float64(out) * vibNanosPerPixel)
		c.memory += int64(c.outW) * vibColumnBytes
	}
	if j.spec.Trim != 0 {
		bands, _ := j.layout()
		c.cpu += time.Duration(float64(loaded*bands) * trimNanosPerBand)
	}
	if j.srcFmt == transform.FormatSVG && svgRereads(j.spec) {
		c.memory += settleCopies * loaded * 4 // drawn once, into memory (process)
	}
	if j.srcFmt == transform.FormatJXL {
		c.cpu += jxlDecode
	}
	// usm's gaussian is priced as blur's, and counts against the same
	// limit.
	for i, sigma := range [...]float64{float64(j.spec.Blur) / 20, j.spec.USMRad} {
		if sigma == 0 {
			continue
		}
		work := float64(out) * sigma
		c.blurWork += work
		// The gaussian reads its kernel's reach beyond every edge (about
		// two sigma each side), which a small output with a large sigma is
		// mostly made of: blur=2000 at 1200x300 took 1.3 to 2.1 s of CPU,
		// priced 0.43 s on the output alone.
		reach := 4 * sigma
		spread := (float64(c.outW) + reach) * (float64(c.outH) + reach) * float64(c.frames) * sigma
		if i == 1 {
			spread *= usmGaussianFactor
		}
		c.cpu += time.Duration(spread * blurNanosPerSigma)
		// The separable gaussian holds about six sigma rows of float pixels
		// above and below each output strip, and as many columns beside
		// them: on a small output the margins are most of it (the cost
		// oracle measured 26 MiB for blur=2000 on a 400x300 SVG, where the
		// rows alone priced 3.8 MiB).
		margin := int64(math.Ceil(6 * sigma))
		c.memory += (int64(c.outW) + margin) * (blurStripRows + margin) * 16
	}
	if j.spec.USM != 0 {
		c.cpu += time.Duration(float64(out) * usmNanosPerPixel)
		if (j.spec.Blur > 0 || j.spec.Sharp > 0) && !j.animated {
			// The image drawn into memory before usm (process).
			bands, sample := j.layout()
			c.memory += settleCopies * out * bands * sample
		}
	}
	c.fillBlurCost(j)
	if j.spec.Px > 1 {
		c.cpu += time.Duration(float64(out) * pxNanosPerPixel)
		// libvips' copy of the pixels and Go's, both held while Go's is
		// made (vips_image_write_to_memory, then govips' GoBytes).
		c.memory += 2 * out * 4
	}
}

// fillBlurCost adds fill=blur's copy of the image (blurFill): its reduce
// from the resized image to 1/k of the box (or enlargement, from a small
// one), its gaussian there, its enlargement to the box and the image
// inserted, and the resized image drawn into memory (priced whether or
// not the resize already did).
func (c *cost) fillBlurCost(j *job) {
	p := j.plan
	if !j.spec.FillBlur || p.boxW == p.resizeW && p.boxH == p.resizeH {
		return
	}
	bands, sample := j.layout()
	sigma := fillBlurSigma(p.boxW, p.boxH)
	k := float64(fillBlurScale(sigma))
	cover := max(float64(p.boxW)/float64(p.resizeW), float64(p.boxH)/float64(p.resizeH))
	resized := int64(p.resizeW) * int64(p.resizeH)
	// libvips computes of the copy only what the box shows of it, and
	// the gaussian's reach around that: a thin image in a wide box covers
	// it with a copy far taller than the box.
	reach := 2 * math.Ceil(3*sigma/k)
	small := min(math.Ceil(float64(p.resizeW)*cover/k), math.Ceil(float64(p.boxW)/k)+reach) *
		min(math.Ceil(float64(p.resizeH)*cover/k), math.Ceil(float64(p.boxH)/k)+reach)
	if ratio := k / cover; ratio > 1 {
		c.cpu += time.Duration(float64(resized*bands) * reduceNanos(ratio, j.alpha))
	} else {
		c.cpu += time.Duration(small * resizeNanosPerPixel)
	}
	c.cpu += time.Duration(small*sigma/k*blurNanosPerSigma + float64(int64(p.boxW)*int64(p.boxH)*bands)*fillBlurNanosPerBand)
	c.memory += settleCopies * resized * bands * sample
}

// resizeCost adds the reduces and enlargements of j's plan to c: the
// prescale of a source without shrink-on-load, then the resize from what it
// left (or from the rect cut from the decode) to the planned size. loaded
// and resized count every frame.
func (c *cost) resizeCost(j *job, loaded, resized int64) {
	if j.srcFmt == transform.FormatSVG && j.opts.dpi > 0 {
		return // drawn at the planned size (svgDraw)
	}
	bands, sample := j.layout()
	// The bytes a reduce works in per pixel: floats when govips
	// premultiplies alpha, else the samples as decoded.
	work := bands * sample
	if j.alpha {
		work = bands * 4
	}
	frames := int64(c.frames)
	inW, inH := c.loadW, c.loadH
	reduce := func(w, h int, in int64) {
		ratio := max(float64(inW)/float64(w), float64(inH)/float64(h))
		c.cpu += time.Duration(float64(in*bands) * reduceNanos(ratio, j.alpha))
		if ratio < 4 {
			c.memory += int64(inW) * work * reduceBufferRows
		}
	}
	in := loaded
	if p := j.prescale; p > 1 {
		w, h := max(1, (inW+p/2)/p), max(1, (inH+p/2)/p)
		reduce(w, h, in)
		in = int64(w) * int64(h) * frames
		c.memory += settleCopies * in * bands * sample // always settled (reduceFirst)
		inW, inH = w, h
	}
	if r := j.rect; r[2] != 0 {
		s := max(j.opts.shrink, 1)
		inW, inH = ceilDiv(r[2], s), ceilDiv(r[3], s)
		in = int64(inW) * int64(inH) * frames
	}
	switch {
	case resized < in:
		reduce(j.plan.resizeW, j.plan.resizeH, in)
		if 2*resized <= in && !j.animated {
			c.memory += settleCopies * resized * bands * sample // settled (process)
		}
	case resized > in:
		// Enlarged lazily: only what is kept of it is computed.
		kept := min(resized, int64(j.plan.boxW)*int64(j.plan.boxH)*frames)
		c.cpu += time.Duration(float64(kept) * resizeNanosPerPixel)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// check refuses a render whose cost is over a limit, naming the limit and
// the request that would fit.
func (c cost) check(cfg *Config) error {
	px := int64(c.outW) * int64(c.outH)
	switch {
	case c.asked > cfg.MaxOutputPixels:
		return fmt.Errorf("%w: the box asked for is %d pixels (w x h x dpr squared), above limits.max_output_pixels (%d); ask for a smaller w and h",
			transform.ErrTooLarge, c.asked, cfg.MaxOutputPixels)
	case px > cfg.MaxOutputPixels:
		return fmt.Errorf("%w: the output would be %dx%d, %d pixels, above limits.max_output_pixels (%d); ask for a smaller w and h",
			transform.ErrTooLarge, c.outW, c.outH, px, cfg.MaxOutputPixels)
	case c.frames > 1 && px*int64(c.frames) > cfg.MaxOutputFramesPixels:
		return fmt.Errorf("%w: %d frames of %dx%d are %d pixels, above limits.max_output_frames_pixels (%d); ask for a smaller w, or one frame with frame=1",
			transform.ErrTooLarge, c.frames, c.outW, c.outH, px*int64(c.frames), cfg.MaxOutputFramesPixels)
	case c.format == transform.FormatAVIF && px > cfg.MaxAVIFPixels:
		return fmt.Errorf("%w: AVIF output of %d pixels is above limits.max_avif_pixels (%d); ask for a smaller size, fm=webp, or auto=format",
			transform.ErrTooLarge, px, cfg.MaxAVIFPixels)
	case c.format == transform.FormatJXL && px > cfg.MaxJXLPixels:
		return fmt.Errorf("%w: JPEG XL output of %d pixels is above limits.max_jxl_pixels (%d); ask for a smaller size or fm=webp",
			transform.ErrTooLarge, px, cfg.MaxJXLPixels)
	case c.blurWork > float64(cfg.MaxOutputPixels)*blurWorkPerOutputPixel:
		return fmt.Errorf("%w: a gaussian (blur, usmrad) of sigma %.0f over %d pixels is above what limits.max_output_pixels allows (pixels x sigma up to %d); ask for a smaller blur or usmrad, or a smaller output",
			transform.ErrTooLarge, c.blurWork/float64(px*int64(c.frames)), px*int64(c.frames), cfg.MaxOutputPixels*blurWorkPerOutputPixel)
	case cfg.Timeout > 0 && c.svgDraw > cfg.Timeout:
		// librsvg draws a tile in one call, which the kill switch cannot
		// interrupt: a drawing priced past the timeout is not started.
		return fmt.Errorf("%w: drawing this SVG at %dx%d would take about %.0f s (its masks, translucent elements, text and elements drawn, once per %d-pixel tile), above transform.timeout (%s); ask for a smaller w and h",
			transform.ErrTooLarge, c.svgW, c.svgH, c.svgDraw.Seconds(), svgTile, cfg.Timeout)
	case cfg.Timeout > 0 && c.gifDecode > cfg.Timeout:
		// libnsgif composes a frame from those before it in one call,
		// which the kill switch cannot interrupt either.
		return fmt.Errorf("%w: reaching the frame asked for would take about %.0f s (every frame before it is decoded, and each that restores the previous screen copies all of it), above transform.timeout (%s); ask for an earlier frame",
			transform.ErrTooLarge, c.gifDecode.Seconds(), cfg.Timeout)
	case c.memory > cfg.MemoryBudget:
		return fmt.Errorf("%w: this render would hold about %d MiB, above transform.memory_budget (%d MiB); ask for a smaller output or another format",
			transform.ErrTooLarge, c.memory>>20, cfg.MemoryBudget>>20)
	}
	return nil
}
