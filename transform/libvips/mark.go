package libvips

import (
	"fmt"
	"math"

	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// jpegScans is what b's decode holds and reads when b is a JPEG of several
// scans (zero otherwise), refused past maxJPEGScans: libjpeg reads each
// over the whole image before the first row, where a render cannot be
// stopped. what names b in the error.
func jpegScans(b []byte, what string) (transform.JPEGProgression, error) {
	p, multiScan := transform.ReadJPEGProgression(b)
	switch {
	case !multiScan:
		return transform.JPEGProgression{}, nil
	case p.Scans > maxJPEGScans:
		return p, fmt.Errorf("%w: %s is a JPEG of %d scans, above the %d this edge decodes; re-export it as baseline or with a standard progression",
			transform.ErrTooLarge, what, p.Scans, maxJPEGScans)
	}
	return p, nil
}

// markHeader reads the watermark's header (no pixel) so that its size is
// checked and priced before admission, as the source's is.
func markHeader(j *job) error {
	m := j.mark
	if m == nil {
		return nil
	}
	// The same checks as a source: a truncated mark would otherwise be drawn
	// as far as libvips could read it, where the same file as a source is
	// refused.
	if err := transform.CheckIntegrity(m); err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	if err := boundedText(m, "the mark"); err != nil {
		return err
	}
	// A JPEG of many scans is bounded and priced as a mark as it is as a
	// source: a 250-scan mark drew for 5.3 s of CPU and 377 MB.
	var err error
	if j.markJPEG, err = jpegScans(m, "the mark"); err != nil {
		return err
	}
	img, err := load(m, transform.FormatSource, loadOptions{})
	if err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	defer img.Close()
	px := int64(img.Width()) * int64(img.PageHeight())
	if px > j.cfg.MaxSourcePixels {
		return fmt.Errorf("%w: the mark is %dx%d, above limits.max_source_pixels (%d)", transform.ErrTooLarge, img.Width(), img.PageHeight(), j.cfg.MaxSourcePixels)
	}
	j.markPixels, j.markW = px, img.Width()
	return nil
}

// watermark draws the mark over img: sized to mark-w x mark-h by mark-fit
// (its own size when neither is given, never larger than img), placed by
// mark-align mark-pad pixels from the edges, at mark-alpha opacity.
func watermark(j *job, img *vips.ImageRef) error {
	spec := j.spec
	if j.mark == nil {
		return nil
	}
	mark, err := load(j.mark, transform.FormatSource, loadOptions{})
	if err != nil {
		return fmt.Errorf("mark: %w", err)
	}
	defer mark.Close()
	j.kill.track(mark)
	if err := mark.AutoRotate(); err != nil {
		return vipsError("mark", err)
	}
	if err := toSRGB(mark); err != nil {
		return err
	}
	bw, bh := img.Width(), img.PageHeight()
	box := transform.Spec{Width: spec.MarkW, Height: spec.MarkH, Fit: spec.MarkFit}
	if spec.MarkWFrac > 0 {
		box.Width = max(1, int(math.Round(spec.MarkWFrac*float64(bw))))
	}
	if spec.MarkHFrac > 0 {
		box.Height = max(1, int(math.Round(spec.MarkHFrac*float64(bh))))
	}
	if box.Width == 0 && box.Height == 0 {
		box.Width, box.Height, box.Fit = bw, bh, transform.FitMax
	}
	p := planSize(box, mark.Width(), mark.PageHeight(), j.cfg.MaxDimension, j.cfg.MaxUpscale)
	if cw, ch := mark.Width(), mark.PageHeight(); cw != p.resizeW || ch != p.resizeH {
		if err := mark.ResizeWithVScale(float64(p.resizeW)/float64(cw), float64(p.resizeH)/float64(ch), vips.KernelLanczos3); err != nil {
			return vipsError("mark", err)
		}
	}
	if err := cropOrPad(mark, box, p, false); err != nil {
		return err
	}
	if !mark.HasAlpha() {
		if err := mark.AddAlpha(); err != nil {
			return vipsError("mark", err)
		}
	}
	if spec.MarkAlpha < 100 {
		n := mark.Bands()
		a, b := make([]float64, n), make([]float64, n)
		for i := range n {
			a[i] = 1
		}
		a[n-1] = float64(spec.MarkAlpha) / 100
		if err := mark.Linear(a, b); err != nil {
			return vipsError("mark", err)
		}
		if err := mark.Cast(vips.BandFormatUchar); err != nil {
			return vipsError("mark", err)
		}
	}
	mw, mh := mark.Width(), mark.PageHeight()
	x, y := (bw-mw)/2, (bh-mh)/2
	g, pad := spec.MarkAlign, spec.MarkPad
	if g&transform.GravityLeft != 0 {
		x = pad
	} else if g&transform.GravityRight != 0 {
		x = bw - mw - pad
	}
	if g&transform.GravityTop != 0 {
		y = pad
	} else if g&transform.GravityBottom != 0 {
		y = bh - mh - pad
	}
	if img.Bands() < 3 {
		if err := img.ToColorSpace(vips.InterpretationSRGB); err != nil {
			return vipsError("mark", err)
		}
	}
	if err := img.Composite(mark, vips.BlendModeOver, x, y); err != nil {
		return vipsError("mark", err)
	}
	return nil
}
