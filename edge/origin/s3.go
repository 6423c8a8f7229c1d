package origin

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// ErrMisconfigured means the origin refused this edge itself: credentials
// refused, a wrong region, a missing bucket. Every request fails the same way
// until an operator fixes the config; it is never the client's fault.
var ErrMisconfigured = errors.New("origin: misconfigured")

// S3Config is where an s3:// origin's bucket is served from. Credentials come
// from the AWS SDK's default chain: the environment, the shared config and
// credentials files, web identity (EKS), the container (ECS) and instance
// (EC2) roles.
type S3Config struct {
	Endpoint  string // empty: AWS's own for the region
	Region    string // empty: from the chain (AWS_REGION, the shared config), else us-east-1
	PathStyle bool   // bucket in the path, not the host (MinIO, Ceph, SeaweedFS, versitygw)
}

// S3 serves objects from a bucket, under a key prefix, through aws-sdk-go-v2
// on a pooled client bounded by fetch.max_conns.
type S3 struct {
	client  *s3.Client
	bucket  string
	prefix  string // "" or "dir/" ...
	label   string // s3://bucket/prefix, for messages
	timeout time.Duration
	budget  *Budget
}

// NewS3 builds the origin for s3://bucket[/prefix]. It makes no request:
// Check does, once, at start-up.
func NewS3(u *url.URL, cfg Config) (*S3, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("%s: s3://bucket[/prefix] with a bucket", u)
	}
	connect := cfg.ConnectTimeout
	hc := awshttp.NewBuildableClient().
		WithTimeout(cfg.Timeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = connect }).
		WithTransportOptions(func(t *http.Transport) {
			// The seed's lesson: an origin spike must not open unbounded
			// connections.
			t.MaxConnsPerHost = cfg.MaxConns
			t.MaxIdleConnsPerHost = cfg.MaxConns
			t.IdleConnTimeout = 30 * time.Second
		})
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(hc),
		// One attempt: Fetch callers retry once themselves, and the breaker
		// must see a sick origin as it is.
		awsconfig.WithRetryMaxAttempts(1),
	}
	if cfg.S3.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.S3.Region))
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: the AWS configuration does not load: %w", u, err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.S3.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.S3.Endpoint)
		}
		o.UsePathStyle = cfg.S3.PathStyle
		// Objects are checked by the edge's own integrity checks; the SDK
		// would otherwise log a line for every object stored without a
		// checksum.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{client: client, bucket: u.Host, prefix: prefix, label: "s3://" + u.Host + "/" + prefix,
		timeout: cfg.Timeout, budget: cfg.Bytes}, nil
}

// Check asks for the bucket once (HeadBucket), so that refused credentials,
// a wrong region or a missing bucket stop the start with the key to fix.
func (o *S3) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	_, err := o.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(o.bucket)})
	if err == nil {
		return nil
	}
	status, code := apiError(err)
	switch {
	case status == 404 || code == "NoSuchBucket" || code == "NotFound":
		return fmt.Errorf("%s: the bucket %q does not exist at this endpoint; check origin and s3.endpoint", o.label, o.bucket)
	case status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed":
		return fmt.Errorf("%s: the bucket is in another region; set s3.region (IMGEDGE_S3_REGION)", o.label)
	case status == 403 || status == 400:
		return fmt.Errorf("%s: the bucket refused these credentials (HTTP %d); check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "+
			"the shared credentials file or the role, and that they may read the bucket", o.label, status)
	case status > 0:
		return fmt.Errorf("%s: HeadBucket answered HTTP %d (%s)", o.label, status, code)
	}
	return fmt.Errorf("%s: the endpoint cannot be reached; check s3.endpoint (IMGEDGE_S3_ENDPOINT): %w", o.label, err)
}

// key maps a request path, decoded once, to an object key under the
// prefix. Empty, "." and ".." segments name nothing: a path never leaves the
// prefix.
func (o *S3) key(path string) (string, bool) {
	name, ok := cleanName(path)
	if !ok {
		return "", false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return o.prefix + name, true
}

// Fetch gets the object, conditionally when r carries validators (S3
// answers 304). The size is checked from Content-Length before the body is
// read, and the read is bounded as for HTTP origins.
func (o *S3) Fetch(ctx context.Context, r Request) (Object, error) {
	key, ok := o.key(r.Path)
	if !ok {
		return Object{}, ErrNotFound
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// A read caught between an object's versions is read again, as the
	// folder origin does for a file written in place.
	for range 3 {
		obj, err := o.get(ctx, key, r)
		if !errors.Is(err, errTornRead) {
			return obj, err
		}
	}
	return Object{}, fmt.Errorf("GET %s%s: three reads in a row were torn: %w", o.label, strings.TrimPrefix(r.Path, "/"), errTornRead)
}

// errTornRead is an answer whose ETag is the MD5 of other bytes than its
// body: an S3-compatible server that writes an object's metadata apart
// from its data (versitygw's sidecar metadata, for one) can answer a GET
// during a PUT with the old bytes under the new ETag. Kept, those bytes
// would be revalidated as current (304) for as long as the new object
// stands. A fault of the origin: a stale copy stands in.
var errTornRead = errors.New("the ETag is not the MD5 of the body (the object was being replaced)")

// get is one GetObject of key.
func (o *S3) get(ctx context.Context, key string, r Request) (Object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)}
	if r.ETag != "" {
		in.IfNoneMatch = aws.String(r.ETag)
	}
	if !r.LastModified.IsZero() {
		in.IfModifiedSince = aws.Time(r.LastModified)
	}
	out, err := o.client.GetObject(ctx, in)
	if err != nil {
		return o.fetchError(ctx, r, err)
	}
	defer out.Body.Close()
	announced := aws.ToInt64(out.ContentLength)
	if out.ContentLength == nil {
		announced = -1
	}
	if announced > r.MaxBytes {
		return Object{}, fmt.Errorf("%w: announced %d bytes, the limit is %d (limits.max_source_bytes)", ErrTooLarge, announced, r.MaxBytes)
	}
	body, err := readBody(ctx, o.budget, out.Body, announced, r.MaxBytes)
	if err != nil {
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBytesInFlight) {
			return Object{}, err
		}
		return Object{}, o.transportError(ctx, key, err)
	}
	if !etagMatches(out, body) {
		return Object{}, errTornRead
	}
	obj := Object{Body: body, ETag: aws.ToString(out.ETag), CacheControl: aws.ToString(out.CacheControl),
		Expires: aws.ToString(out.ExpiresString)}
	if out.LastModified != nil {
		obj.LastModified = out.LastModified.UTC()
	}
	return obj, nil
}

// etagMatches reports whether body is what out's ETag names, where the ETag
// says: S3 makes a single-part object's ETag the hex MD5 of its bytes
// unless it is encrypted with KMS or a customer's key; a multipart ETag
// ("...-N") and any other form say nothing checkable and pass.
func etagMatches(out *s3.GetObjectOutput, body []byte) bool {
	tag := strings.Trim(aws.ToString(out.ETag), `"`)
	if len(tag) != 2*md5.Size || out.SSECustomerAlgorithm != nil || out.SSEKMSKeyId != nil ||
		strings.HasPrefix(string(out.ServerSideEncryption), "aws:kms") {
		return true
	}
	want, err := hex.DecodeString(tag)
	if err != nil {
		return true
	}
	sum := md5.Sum(body)
	return bytes.Equal(sum[:], want)
}

// fetchError maps a failed GetObject: 304 is an answer; a missing key (and
// the 403 a bucket without ListBucket gives for one) is not-found; refused
// credentials, a wrong region or a missing bucket are the operator's;
// throttling and 5xx are the origin's faults.
func (o *S3) fetchError(ctx context.Context, r Request, err error) (Object, error) {
	status, code := apiError(err)
	switch {
	case status == http.StatusNotModified:
		return Object{NotModified: true, ETag: r.ETag, LastModified: r.LastModified}, nil
	case code == "NoSuchKey" || (status == 404 && code != "NoSuchBucket"):
		return Object{}, ErrNotFound
	case code == "AccessDenied":
		return Object{}, fmt.Errorf("%w: %w", ErrNotFound, &StatusError{Code: status})
	case code == "NoSuchBucket" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
		code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || code == "ExpiredToken" ||
		code == "InvalidToken" || status == 301:
		// The code only: the message can quote the access key id.
		return Object{}, fmt.Errorf("%w: %s answered %s", ErrMisconfigured, o.label, code)
	case status > 0:
		return Object{}, &StatusError{Code: status}
	}
	return Object{}, o.transportError(ctx, r.Path, err)
}

func (o *S3) transportError(ctx context.Context, path string, err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("%w: %s%s: %v", ErrTimeout, o.label, strings.TrimPrefix(path, "/"), err)
	}
	return fmt.Errorf("GET %s%s: %w", o.label, strings.TrimPrefix(path, "/"), err)
}

// apiError reads the HTTP status and the S3 error code of a failed call.
func apiError(err error) (status int, code string) {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return status, code
}
