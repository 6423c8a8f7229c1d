package edge

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"imgedge/edge/origin"
	"imgedge/edge/shield"
	"imgedge/transform"
)

// Error classes (README, Errors).
const (
	classUser      = "user"
	classRetryable = "retryable"
	classOperator  = "operator"
	classFatal     = "fatal"
)

// problem is one failure as the client sees it (RFC 9457).
type problem struct {
	Status     int    `json:"status"`
	Title      string `json:"title"`
	Detail     string `json:"detail"`
	Class      string `json:"class"`
	Code       string `json:"code"`
	RequestID  string `json:"request_id,omitempty"`
	retryAfter int    // seconds; 0: no Retry-After
	// transient: the same URL may succeed later (it failed on this edge's
	// load or time), so no cache may keep the answer, whatever its class.
	transient bool
}

// errPanic marks a recovered panic: a bug, answered as 500 internal.
var errPanic = errors.New("edge: panic")

// classify maps any error of the request path to its one problem. It is the
// only place that knows statuses and codes. A detail is public: it says what
// happened and what to do, in words and limits, never an address, a path on
// disk, a library's message or bytes of an origin's answer; the access log
// keeps the error itself under the request id.
func classify(err error) problem {
	var pe *transform.ParamError
	var fe *shield.FetchError
	var se *origin.StatusError
	var ue *origin.UnavailableError
	var sig *signatureError
	switch {
	case errors.As(err, &pe):
		return problem{Status: 400, Title: "Bad parameter", Class: classUser, Code: "bad_param",
			Detail: pe.Error() + "."}
	case errors.As(err, &sig):
		return problem{Status: 403, Title: "Signature invalid", Class: classUser, Code: "signature_invalid",
			Detail: "This edge only serves signed URLs: add " + sig.how + ", computed with a current key."}
	case errors.Is(err, errMethod):
		return problem{Status: 405, Title: "Method not allowed", Class: classUser, Code: "bad_param",
			Detail: "Only GET and HEAD are served; send the image request as GET."}
	case errors.Is(err, origin.ErrNotFound) && errors.As(err, &se):
		return problem{Status: 404, Title: "Not found", Class: classUser, Code: "not_found",
			Detail: "The origin refused this path (HTTP " + strconv.Itoa(se.Code) + "); check the path and its case, and that the object may be read."}
	case errors.Is(err, origin.ErrNotFound):
		return problem{Status: 404, Title: "Not found", Class: classUser, Code: "not_found",
			Detail: "The origin has no object at this path; check the path and its case."}
	case errors.Is(err, errNotImage):
		return problem{Status: 415, Title: "Not an image", Class: classUser, Code: "unsupported_format",
			Detail: "The object at this path is not an image this edge serves (JPEG, PNG, WebP, GIF, AVIF, HEIF, JPEG XL, TIFF or SVG); check the path, or re-export the file as an image."}
	case errors.Is(err, origin.ErrTooLarge):
		return problem{Status: 413, Title: "Source too large", Class: classUser, Code: "source_too_large",
			Detail: "The source image is larger than limits.max_source_bytes; upload a smaller file or raise the limit."}
	case errors.Is(err, transform.ErrTooLarge):
		return problem{Status: 422, Title: "Over a limit", Class: classUser, Code: "unsupported_image",
			Detail: "The request is over a limit: " + strings.TrimPrefix(err.Error(), transform.ErrTooLarge.Error()+": ") + "."}
	case errors.Is(err, transform.ErrUnsupported):
		return problem{Status: 422, Title: "Unsupported image", Class: classUser, Code: "unsupported_image",
			Detail: "The source could not be used as an image: " + strings.TrimPrefix(err.Error(), transform.ErrUnsupported.Error()+": ") +
				". Re-export it as JPEG, PNG or WebP."}
	case errors.Is(err, transform.ErrTimeout):
		return problem{Status: 422, Title: "Unsupported image", Class: classUser, Code: "unsupported_image", transient: true,
			Detail: "The image took longer than transform.timeout to process and was stopped. Use a smaller source or a smaller output."}
	case errors.As(err, &ue):
		return problem{Status: 503, Title: "Origin unavailable", Class: classRetryable, Code: "origin_unavailable",
			retryAfter: int(math.Ceil(ue.RetryAfter.Seconds())),
			Detail:     "The origin is failing and its circuit breaker is open, and no stale copy can be served; retry after the Retry-After delay."}
	case errors.Is(err, origin.ErrWriting):
		return problem{Status: 503, Title: "Origin unavailable", Class: classRetryable, Code: "origin_unavailable", retryAfter: int(origin.RacyAge.Seconds()),
			Detail: "The file is being written at the origin, and no stale copy can be served; retry after the Retry-After delay."}
	case errors.Is(err, transform.ErrBusy):
		return problem{Status: 503, Title: "Overloaded", Class: classRetryable, Code: "overloaded", retryAfter: 1,
			Detail: "The edge is at its transform capacity (transform.concurrency, transform.queue, transform.memory_budget); retry after the Retry-After delay."}
	case errors.Is(err, origin.ErrNoConnection), errors.Is(err, origin.ErrBytesInFlight):
		return problem{Status: 503, Title: "Overloaded", Class: classRetryable, Code: "overloaded", retryAfter: 1,
			Detail: "The edge is at its origin fetch capacity (fetch.max_conns, fetch.max_bytes_in_flight); retry after the Retry-After delay."}
	case errors.As(err, &fe) && (errors.Is(err, origin.ErrTimeout) || errors.Is(err, context.DeadlineExceeded)):
		return problem{Status: 504, Title: "Origin timeout", Class: classRetryable, Code: "origin_timeout",
			Detail: "The origin did not answer within fetch.timeout; retry later."}
	case errors.Is(err, origin.ErrMisconfigured):
		return problem{Status: 502, Title: "Origin misconfigured", Class: classOperator, Code: "origin_misconfigured",
			Detail: "The origin refused this edge's credentials, region or bucket; the operator must fix the origin configuration (see the log under this request id)."}
	case errors.As(err, &fe) && errors.As(err, &se):
		return problem{Status: 502, Title: "Origin error", Class: classOperator, Code: "origin_error",
			Detail: "The origin answered HTTP " + strconv.Itoa(se.Code) + "; the operator should check the origin server and its logs."}
	case errors.As(err, &fe):
		return problem{Status: 502, Title: "Origin error", Class: classOperator, Code: "origin_error",
			Detail: "The origin could not be reached or answered in a way that cannot be used; the operator finds the cause in the log under this request id."}
	case errors.Is(err, context.DeadlineExceeded):
		return problem{Status: 503, Title: "Overloaded", Class: classRetryable, Code: "overloaded", retryAfter: 1,
			Detail: "The request did not complete in time; retry after the Retry-After delay."}
	}
	return problem{Status: 500, Title: "Internal error", Class: classFatal, Code: "internal",
		Detail: "The edge hit a bug; it has been logged with the request id. Report it with that id."}
}

var (
	errMethod = errors.New("edge: method not allowed")
	// errNotImage: an original asked for as is whose bytes are no image.
	errNotImage = errors.New("edge: the original is not an image")
)

// signatureError is a URL whose s is missing or wrong; how says what s
// must be under the route's scheme (signing.Verifier.HowToSign).
type signatureError struct{ how string }

func (e *signatureError) Error() string { return "edge: signature missing or wrong" }

// writeProblem answers p as application/problem+json. User errors are
// cacheable for a short time (the same URL fails the same way); anything
// transient is no-store, so a CDN in front never keeps it.
func (s *Server) writeProblem(ctx *fasthttp.RequestCtx, p problem) {
	ctx.Response.Reset()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType("application/problem+json")
	h := &ctx.Response.Header
	if p.Class == classUser && !p.transient {
		h.Set(fasthttp.HeaderCacheControl, s.policy.Load().errorCacheControl)
	} else {
		h.Set(fasthttp.HeaderCacheControl, "no-store")
	}
	if p.Status == 405 {
		h.Set(fasthttp.HeaderAllow, "GET, HEAD, OPTIONS")
	}
	if p.retryAfter > 0 {
		h.Set(fasthttp.HeaderRetryAfter, strconv.Itoa(p.retryAfter))
	}
	body, _ := json.Marshal(p)
	ctx.SetBody(body)
}
