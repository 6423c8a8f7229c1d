package libvips

// #cgo pkg-config: vips
// #include <vips/vips.h>
//
// // While a capture is open on a thread, the first operation built on it
// // that reads an image as "in" leaves that image (a reference) here.
// static GPrivate capturing = G_PRIVATE_INIT(NULL);
// static GPrivate captured = G_PRIVATE_INIT(NULL);
//
// static gboolean capture_in(GSignalInvocationHint *hint, guint n, const GValue *params, gpointer data) {
//   if (!g_private_get(&capturing) || g_private_get(&captured))
//     return TRUE;
//   GObject *object = g_value_get_object(&params[0]);
//   if (!VIPS_IS_OPERATION(object))
//     return TRUE;
//   GParamSpec *in = g_object_class_find_property(G_OBJECT_GET_CLASS(object), "in");
//   if (in == NULL || in->value_type != VIPS_TYPE_IMAGE)
//     return TRUE;
//   VipsImage *image = NULL;
//   g_object_get(object, "in", &image, NULL);
//   g_private_set(&captured, image);
//   return TRUE; // stays installed
// }
//
// // capture_install hooks every object libvips builds (its postbuild
// // signal, on the thread that built it); 0 when libvips has no such signal.
// static int capture_install(void) {
//   guint id = g_signal_lookup("postbuild", VIPS_TYPE_OBJECT);
//   if (id == 0)
//     return 0;
//   g_signal_add_emission_hook(id, 0, capture_in, NULL, NULL);
//   return 1;
// }
//
// static void capture_begin(void) { g_private_set(&capturing, GINT_TO_POINTER(1)); }
//
// static VipsImage *capture_end(void) {
//   VipsImage *image = g_private_get(&captured);
//   g_private_set(&captured, NULL);
//   g_private_set(&capturing, NULL);
//   return image;
// }
import "C"

import (
	"runtime"
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

// killHook reports whether installKillHook found libvips' postbuild signal;
// without it imagePointer learns nothing and renders run to their end
// (their callers still answer at transform.timeout).
var killHook bool

// installKillHook hooks libvips' postbuild signal for imagePointer; once,
// from Startup.
func installKillHook() bool {
	killHook = C.capture_install() != 0
	return killHook
}

// imagePointer returns a reference to the VipsImage behind img, learnt
// through public API only: govips keeps the pointer unexported, so img is
// copied (vips_copy, which passes regions through and computes nothing)
// while a hook on libvips' postbuild signal, open on this thread alone,
// reads the copy operation's "in" argument. The copy is dropped at once.
// Nil when that fails; the caller unrefs the image.
func imagePointer(img *vips.ImageRef) *C.VipsImage {
	if !killHook {
		return nil
	}
	// The hook is per thread: begin, the copy and end run on this one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	C.capture_begin()
	cp, err := img.Copy()
	p := C.capture_end()
	if err == nil {
		cp.Close()
	}
	return p
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
		C.g_object_unref(C.gpointer(p))
		return
	}
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
