package transform

// Clamp names the limit that brought a render's size down to the largest
// allowed of the same shape. A srcset or a client hint asks for sizes the
// page cannot know to be over a limit (imgix's SDK lists widths to 8192 and
// dpr to 5 whatever the source), so, as imgix does, such an ask degrades to
// the limit instead of answering 422; the edge states it in the
// Imgedge-Clamped header and /explain. The cost bound is the limits', as
// before. The shared tier keeps it in three bits: at most 7 values.
type Clamp uint8

const (
	ClampNone         Clamp = iota
	ClampDimension          // w or h times dpr above limits.max_dimension: dpr lowered
	ClampOutputPixels       // the box above limits.max_output_pixels
	ClampAVIFPixels         // fm=avif above limits.max_avif_pixels
	ClampJXLPixels          // fm=jxl above limits.max_jxl_pixels
	ClampFramesPixels       // an animation's frames above limits.max_output_frames_pixels
	clampCount
)

var clampLimits = [clampCount]string{"", "limits.max_dimension", "limits.max_output_pixels", "limits.max_avif_pixels", "limits.max_jxl_pixels",
	"limits.max_output_frames_pixels"}

// Limit is the config key of the limit, "" for ClampNone or a value this
// release does not know (written by a newer one).
func (c Clamp) Limit() string {
	if c >= clampCount {
		return ""
	}
	return clampLimits[c]
}
