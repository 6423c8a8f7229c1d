package libvips

// #cgo pkg-config: vips
// #include <vips/vips.h>
import "C"

import (
	"reflect"
	"sync"

	"github.com/davidbyttow/govips/v2/vips"
)

// killSwitch stops a render from another goroutine. libvips checks an
// image's kill flag each time a region of it is prepared, that is for every
// tile pulled through the pipeline (vips_region_prepare), and fails the
// computation when it is set. govips exposes neither the flag nor the
// image, so the switch holds its own references to the images the render
// pulls pixels through: the loaded source (every tile reaches it) and the
// image handed to the encoder. Its references keep those images alive until
// release, so kill never touches a freed image.
type killSwitch struct {
	mu       sync.Mutex
	images   []*C.VipsImage
	killed   bool
	cause    error // why the first kill came
	released bool
}

// govipsImageField is where govips keeps an ImageRef's VipsImage: an
// unexported field, read by reflection because govips offers no public
// way to it and the kill flag needs the image itself. It was written for
// govips v2.16.0; imageFieldOK checks at Startup that this govips still
// has it, and TestGovipsKeepsItsImageField fails with the reason when an
// upgrade removes or retypes it.
//
// Learning the pointer through public libvips API instead (a GLib
// emission hook on libvips' postbuild signal reading the "in" of a
// vips_copy) works, but costs a vips_copy per image tracked and puts a
// GLib emission on every object libvips builds, regions included.
const govipsImageField = "image"

// imageFieldOK reports whether govips' ImageRef has the field
// imagePointer reads, as a pointer to a C VipsImage.
func imageFieldOK() bool {
	f, ok := reflect.TypeFor[vips.ImageRef]().FieldByName(govipsImageField)
	return ok && f.Type.Kind() == reflect.Pointer && f.Type.Elem().Name() == "_Ctype_struct__VipsImage"
}

// haveImageField is imageFieldOK, asked once.
var haveImageField = imageFieldOK()

// imagePointer is the VipsImage behind img, nil when this govips keeps it
// elsewhere (then renders run to their end; their callers still answer at
// transform.timeout). The field is read on the goroutine that owns img,
// between operations.
func imagePointer(img *vips.ImageRef) *C.VipsImage {
	if !haveImageField {
		return nil
	}
	return (*C.VipsImage)(reflect.ValueOf(img).Elem().FieldByName(govipsImageField).UnsafePointer())
}

// track adds the image img holds now; called by the render's goroutine.
func (k *killSwitch) track(img *vips.ImageRef) {
	if img == nil {
		return
	}
	p := imagePointer(img)
	if p == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.released {
		return
	}
	C.g_object_ref(C.gpointer(p))
	k.images = append(k.images, p)
	if k.killed {
		C.vips_image_set_kill(p, C.TRUE)
	}
}

// retrack drops the references tracked so far and tracks img alone, for
// a render that settled (settle): nothing is pulled through the images
// before img any more, and a reference to the loaded source would keep its
// decoded pixels alive to the end of the render.
func (k *killSwitch) retrack(img *vips.ImageRef) {
	k.mu.Lock()
	old := k.images
	k.images = nil
	k.mu.Unlock()
	for _, p := range old {
		C.g_object_unref(C.gpointer(p))
	}
	k.track(img)
}

// kill sets the kill flag of every tracked image, and of those tracked
// later; the first cause is what the render reports. libvips clears the
// flag when a worker picks it up, so the caller repeats kill until the
// render has returned.
func (k *killSwitch) kill(cause error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.killed {
		k.cause = cause
	}
	k.killed = true
	for _, p := range k.images {
		C.vips_image_set_kill(p, C.TRUE)
	}
}

// wasKilled reports whether kill was called, and why.
func (k *killSwitch) wasKilled() (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.killed, k.cause
}

// release drops the switch's references; the render's own are closed first.
func (k *killSwitch) release() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.images {
		C.g_object_unref(C.gpointer(p))
	}
	k.images, k.released = nil, true
}
