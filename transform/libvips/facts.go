package libvips

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"strconv"

	"github.com/buckket/go-blurhash"
	"github.com/davidbyttow/govips/v2/vips"

	"imgedge/transform"
)

// sourceFacts is fm=json: what imgix's fm=json answers that libvips knows,
// under imgix's names, and the frame count.
type sourceFacts struct {
	ContentType   string  `json:"Content-Type"`
	ContentLength string  `json:"Content-Length"`
	PixelWidth    int     `json:"PixelWidth"`
	PixelHeight   int     `json:"PixelHeight"`
	Orientation   int     `json:"Orientation"`
	ColorModel    string  `json:"ColorModel"`
	Depth         int     `json:"Depth"`
	DPIWidth      float64 `json:"DPIWidth,omitempty"`
	DPIHeight     float64 `json:"DPIHeight,omitempty"`
	HasAlpha      bool    `json:"HasAlpha"`
	Frames        int     `json:"Frames"`
	// Faces is faces=1: the faces found, largest first; absent unless asked.
	Faces *[]faceFacts `json:"Faces,omitempty"`
}

// faceFacts is one face of fm=json&faces=1: its square in pixels of the
// source as displayed (oriented).
type faceFacts struct {
	Bounds struct {
		X      int `json:"x"`
		Y      int `json:"y"`
		Width  int `json:"width"`
		Height int `json:"height"`
	} `json:"bounds"`
}

// factsJSON describes the source as loaded for the header: no pixel is
// decoded, unless faces=1 asks for the faces.
func factsJSON(j *job) ([]byte, error) {
	img := j.img
	f := sourceFacts{
		ContentType: j.srcFmt.ContentType(), ContentLength: strconv.Itoa(len(j.orig)),
		PixelWidth: j.sw, PixelHeight: j.sh, Orientation: max(img.Orientation(), 1),
		Depth: 8 * sampleBytes(img.BandFormat()), HasAlpha: img.HasAlpha(), Frames: j.pages,
	}
	switch img.Interpretation() {
	case vips.InterpretationBW, vips.InterpretationGrey16:
		f.ColorModel = "Gray"
	case vips.InterpretationCMYK:
		f.ColorModel = "CMYK"
	default:
		f.ColorModel = "RGB"
	}
	// libvips keeps resolution in pixels per millimetre.
	if x, y := img.ResX(), img.ResY(); x > 0 && y > 0 {
		f.DPIWidth, f.DPIHeight = roundTo(x*25.4, 2), roundTo(y*25.4, 2)
	}
	if j.spec.FacesJSON {
		list, err := facesFacts(j)
		if err != nil {
			return nil, err
		}
		f.Faces = &list
	}
	return json.Marshal(f)
}

func roundTo(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}

// blurHashSide bounds the image a BlurHash is computed from: the hash keeps
// 4 x 3 components, which a 32 px thumbnail holds as well as the original.
const blurHashSide = 32

// factsBlurHash is fm=blurhash: the BlurHash (4 x 3 components) of the
// processed image, from a thumbnail of it.
func factsBlurHash(img *vips.ImageRef) ([]byte, error) {
	if scale := float64(blurHashSide) / float64(max(img.Width(), img.PageHeight())); scale < 1 {
		if err := img.Resize(scale, vips.KernelLinear); err != nil {
			return nil, vipsError("blurhash", err)
		}
	}
	if img.HasAlpha() {
		if err := img.Flatten(&vips.Color{R: 255, G: 255, B: 255}); err != nil {
			return nil, vipsError("blurhash", err)
		}
	}
	buf, _, err := img.ExportPng(&vips.PngExportParams{Compression: 1})
	if err != nil {
		return nil, vipsError("blurhash", err)
	}
	thumb, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		return nil, &transform.LibraryError{Stage: "blurhash", Detail: err.Error()}
	}
	hash, err := blurhash.Encode(4, 3, thumb)
	if err != nil {
		return nil, &transform.LibraryError{Stage: "blurhash", Detail: err.Error()}
	}
	return []byte(hash), nil
}

// facesFacts finds the faces of the source for faces=1, in pixels of the
// source as displayed.
func facesFacts(j *job) ([]faceFacts, error) {
	if err := orient(j); err != nil {
		return nil, err
	}
	found, err := j.findFaces(j.img)
	if err != nil {
		return nil, err
	}
	list := make([]faceFacts, len(found))
	w, h := float64(j.shown[0]), float64(j.shown[1])
	for i, b := range found {
		bb := &list[i].Bounds
		bb.X, bb.Y = int(math.Round(b.X*w)), int(math.Round(b.Y*h))
		bb.Width, bb.Height = int(math.Round(b.W*w)), int(math.Round(b.H*h))
	}
	return list, nil
}
