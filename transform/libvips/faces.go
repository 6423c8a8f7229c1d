package libvips

import (
	"math"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
	"imgedge/transform/faces"
)

// findFaces returns the faces in img, the image as it is before the resize
// (oriented, after rect and trim), in fractions of it. The faces of the
// whole source (its first frame) are looked for on the source decoded at
// the one scale a search reads (faceLoad), whatever this render decoded,
// so that every variant finds the same ones, kept by the memo or not; the
// memo keeps them for the source's later variants. The faces of a part of
// the source (rect, trim) or of another frame are looked for in img and
// kept for nothing: they are this variant's alone.
func (j *job) findFaces(img *vips.ImageRef) ([]faces.Box, error) {
	if j.detector == nil {
		return nil, nil
	}
	if !j.wholeSourceFaces() {
		return j.detect(img)
	}
	if j.memo != nil {
		if found, ok := j.memo.Faces(); ok {
			return found, nil
		}
	}
	probe, err := load(j.src, j.srcFmt, loadOptions{shrink: j.faceShrink()})
	if err != nil {
		return nil, err
	}
	defer probe.Close()
	j.kill.track(probe)
	if err := orientImage(probe, false); err != nil {
		return nil, err
	}
	found, err := j.detect(probe)
	if err != nil {
		return nil, err
	}
	if j.memo != nil {
		j.memo.KeepFaces(found)
	}
	return found, nil
}

// wholeSourceFaces reports a render whose faces are the source's: the
// whole first frame of a raster source.
func (j *job) wholeSourceFaces() bool {
	return j.rect[2] == 0 && j.spec.Trim == 0 && j.spec.Frame <= 1 && j.srcFmt != transform.FormatSVG
}

// faceShrink is the shrink-on-load of the source's decode for its faces:
// the largest that leaves at least faceSide's size (JPEG's DCT scaling,
// WebP's scaled decode); 1 for other formats.
func (j *job) faceShrink() int {
	if j.srcFmt == transform.FormatJPEG || j.srcFmt == transform.FormatWebP && j.pages == 1 {
		gw, gh := faceSide(j.sw, j.sh)
		return jpegShrink(j.sw, j.sh, gw, gh)
	}
	return 1
}

// detect looks for faces on a grey copy of img.
func (j *job) detect(img *vips.ImageRef) ([]faces.Box, error) {
	grey, w, h, err := greyCopy(img)
	if err != nil {
		return nil, err
	}
	found, _, err := j.detector.Detect(grey, w, h)
	if err != nil {
		return nil, &transform.LibraryError{Stage: "faces", Detail: err.Error()}
	}
	return found, nil
}

// faceSide is the size of the grey copy faces are looked for on: the
// image's, at most faces.MaxSide on its longer side.
func faceSide(w, h int) (int, int) {
	if long := max(w, h); long > faces.MaxSide {
		s := float64(faces.MaxSide) / float64(long)
		return max(1, int(math.Round(float64(w)*s))), max(1, int(math.Round(float64(h)*s)))
	}
	return w, h
}

// greyCopy is img reduced to faceSide, flattened on white, as one 8-bit
// grey band: what the cascade reads.
func greyCopy(img *vips.ImageRef) ([]byte, int, int, error) {
	probe, err := img.Copy()
	if err != nil {
		return nil, 0, 0, vipsError("faces", err)
	}
	defer probe.Close()
	w, h := probe.Width(), probe.PageHeight()
	if probe.Height() != h {
		if err := probe.ExtractArea(0, 0, w, h); err != nil { // the first frame
			return nil, 0, 0, vipsError("faces", err)
		}
	}
	if probe.HasAlpha() {
		if err := probe.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
	}
	if gw, gh := faceSide(w, h); gw != w || gh != h {
		if err := probe.ResizeWithVScale(float64(gw)/float64(w), float64(gh)/float64(h), vips.KernelLinear); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
	}
	// Grey first, in the image's own depth (16-bit RGB becomes 16-bit
	// grey), then 8 bits: cast to 8 bits first, a 16-bit RGB image keeps
	// its interpretation and libvips' grey conversion scales it down a
	// second time, to black.
	if probe.Bands() >= 3 || probe.Interpretation() != vips.InterpretationBW && probe.Interpretation() != vips.InterpretationGrey16 {
		if err := probe.ToColorSpace(vips.InterpretationBW); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
	}
	switch probe.BandFormat() {
	case vips.BandFormatUchar:
	case vips.BandFormatUshort:
		// 16 bits to 8: the top byte of each sample.
		if err := probe.Linear1(1.0/256, 0); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
		if err := probe.Cast(vips.BandFormatUchar); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
	default: // float grey is on the 8-bit scale
		if err := probe.Cast(vips.BandFormatUchar); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
	}
	if probe.Bands() > 1 {
		if err := probe.ExtractBand(0, 1); err != nil {
			return nil, 0, 0, vipsError("faces", err)
		}
	}
	grey, err := probe.ToBytes()
	if err != nil {
		return nil, 0, 0, vipsError("faces", err)
	}
	return grey, probe.Width(), probe.Height(), nil
}

// chosen is the faces a crop follows: the one faceindex picks (none when
// there is no such face), else all of them.
func chosen(found []faces.Box, index int) []faces.Box {
	if index == 0 {
		return found
	}
	if index > len(found) {
		return nil
	}
	return found[index-1 : index]
}

// rect is an area in pixels: x, y, w, h.
type rect [4]int

// around is the pixels of w x h that the boxes cover together.
func around(boxes []faces.Box, w, h int) (x0, y0, x1, y1 float64) {
	x0, y0 = math.Inf(1), math.Inf(1)
	x1, y1 = math.Inf(-1), math.Inf(-1)
	for _, b := range boxes {
		x0, y0 = min(x0, b.X*float64(w)), min(y0, b.Y*float64(h))
		x1, y1 = max(x1, (b.X+b.W)*float64(w)), max(y1, (b.Y+b.H)*float64(h))
	}
	return x0, y0, x1, y1
}

// faceArea is what fit=facearea keeps of a w x h image: the faces' box,
// grown by pad times its size (half on each side), widened to boxW:boxH,
// no smaller than the box itself where the image allows (a face is not
// enlarged when there are pixels to show instead), centred on the faces and
// moved inside the image, which it never exceeds.
func faceArea(boxes []faces.Box, pad float64, w, h, boxW, boxH int) rect {
	x0, y0, x1, y1 := around(boxes, w, h)
	cx, cy := (x0+x1)/2, (y0+y1)/2
	rw, rh := (x1-x0)*(1+pad), (y1-y0)*(1+pad)
	aspect := float64(boxW) / float64(boxH)
	if rw/rh < aspect {
		rw = rh * aspect
	} else {
		rh = rw / aspect
	}
	if rw < float64(boxW) {
		rw, rh = float64(boxW), float64(boxH)
	}
	if s := min(float64(w)/rw, float64(h)/rh); s < 1 {
		rw, rh = rw*s, rh*s
	}
	iw, ih := max(1, min(w, int(math.Round(rw)))), max(1, min(h, int(math.Round(rh))))
	x := clamp(int(math.Round(cx-float64(iw)/2)), 0, w-iw)
	y := clamp(int(math.Round(cy-float64(ih)/2)), 0, h-ih)
	return rect{x, y, iw, ih}
}

// faceWindow places crop=faces' boxW x boxH window in a w x h image: centred
// on all the faces when they fit in it together, else on the one faceindex
// picks (the largest unless given), as imgix does.
func faceWindow(found []faces.Box, index, w, h, boxW, boxH int) (left, top int) {
	boxes := chosen(found, index)
	if x0, y0, x1, y1 := around(boxes, w, h); x1-x0 > float64(boxW) || y1-y0 > float64(boxH) {
		boxes = boxes[:1]
	}
	x0, y0, x1, y1 := around(boxes, w, h)
	left = clamp(int(math.Round((x0+x1)/2-float64(boxW)/2)), 0, w-boxW)
	top = clamp(int(math.Round((y0+y1)/2-float64(boxH)/2)), 0, h-boxH)
	return left, top
}

// placeFaces runs the face steps of process on img, the image before the
// resize: fit=facearea cuts its face area and is planned again from it (or
// from its fallback fit, without faces) and priced; crop=faces keeps the
// faces for the crop after the resize.
func placeFaces(j *job, img *vips.ImageRef) error {
	s := &j.spec
	if !(s.Fit == transform.FitFaceArea || s.Fit == transform.FitCrop && s.CropFaces) {
		return nil
	}
	found, err := j.findFaces(img)
	if err != nil {
		return err
	}
	if s.Fit == transform.FitCrop {
		j.found = found
		return nil
	}
	w, h := img.Width(), img.PageHeight()
	boxes := chosen(found, s.FaceIndex)
	if len(boxes) > 1 {
		// All the faces, unless they do not fit together in the largest
		// area of the box's shape the image holds: then the largest, as
		// crop=faces does.
		x0, y0, x1, y1 := around(boxes, w, h)
		k := min(float64(w)/float64(s.Width), float64(h)/float64(s.Height))
		if x1-x0 > k*float64(s.Width) || y1-y0 > k*float64(s.Height) {
			boxes = boxes[:1]
		}
	}
	if len(boxes) == 0 {
		s.Fit = s.FaceFallback
	} else {
		a := faceArea(boxes, s.FacePad, w, h, s.Width, s.Height)
		if err := img.ExtractArea(a[0], a[1], a[2], a[3]); err != nil {
			return vipsError("faces", err)
		}
		w, h = a[2], a[3]
		s.Fit = transform.FitCrop
	}
	j.plan = planSize(*s, w, h, j.cfg.MaxDimension, j.cfg.MaxUpscale)
	return j.reprice()
}

// cropAtFaces is crop=faces' crop of img (resized) to the plan's box,
// placed by the faces found before the resize; false when there are none
// (or not the one faceindex asks for), and the crop's gravity decides.
func cropAtFaces(j *job, img *vips.ImageRef) (bool, error) {
	s := j.spec
	if s.Fit != transform.FitCrop || !s.CropFaces || len(chosen(j.found, s.FaceIndex)) == 0 {
		return false, nil
	}
	cw, ch := img.Width(), img.PageHeight()
	w, h := min(j.plan.boxW, cw), min(j.plan.boxH, ch)
	if w == cw && h == ch {
		return true, nil
	}
	left, top := faceWindow(j.found, s.FaceIndex, cw, ch, w, h)
	if err := img.ExtractArea(left, top, w, h); err != nil {
		return false, vipsError("crop", err)
	}
	return true, nil
}
