// Package rest serves Strata's REST/JSON API on the gateway's HTTP port:
// the routes of proto/strata/rest/v1/rest.yaml, through grpc-gateway's
// generated reverse proxies (gen/gateway), and the OpenAPI document
// protoc-gen-openapiv2 writes from the same rules at /openapi.json.
//
// Every route ends in a call to the gateway's public gRPC API over a
// connection to its own gRPC port: topic admin and groups through the
// generated proxies, records through Records (RestService), which turns
// the REST shapes into StreamService calls. So a REST request is checked
// by the same buf.validate rules, bounded by the same deadlines and counted
// in the same metrics as a gRPC one. See docs/rest.md.
package rest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	adminv1gw "github.com/strata-io/strata/gen/gateway/strata/admin/v1"
	restv1gw "github.com/strata-io/strata/gen/gateway/strata/rest/v1"
	streamv1gw "github.com/strata-io/strata/gen/gateway/strata/stream/v1"
	"github.com/strata-io/strata/internal/errs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// OpenAPI is the OpenAPI (Swagger 2.0) document of every route, generated
// by protoc-gen-openapiv2 (buf.gen.rest.yaml).
//
//go:embed openapi.swagger.json
var OpenAPI []byte

// Limits of a request body.
const (
	// DefaultMaxBodyBytes bounds a request body unless the gateway says
	// otherwise: room for Produce's 10,000 records of 1 KiB as base64 JSON.
	DefaultMaxBodyBytes = 32 << 20
	// MaxBodyValues bounds the JSON values (objects, arrays, scalars) of a
	// body. Decoded, each costs 90 to 160 bytes however short its text
	// (`{},` or `1,`), so this, not the byte limit, bounds the memory a
	// body can take: 170 MB at most (a 2 MB body of one JSON array of 1M
	// numbers; 530k empty records take 90 MB). 10,000 records with 100
	// values each fit.
	MaxBodyValues = 1 << 20
	// DefaultBodyReadTimeout bounds the time a client takes to send a
	// body, so a slow sender cannot hold a buffer of up to MaxBodyBytes
	// for long. It does not bound the call itself (a long poll has no body).
	DefaultBodyReadTimeout = time.Minute
)

// Config is what the handler needs.
type Config struct {
	// Conn reaches the gateway's own gRPC API (a loopback connection).
	Conn grpc.ClientConnInterface
	// Partitions gives a topic's partition count, false for an unknown
	// topic (the gateway's metadata cache).
	Partitions func(topic string) (int32, bool)
	// MaxBodyBytes bounds a request body; a larger one is answered 413
	// and nothing is done. 0 is DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// BodyReadTimeout bounds the reading of a body (408 past it); 0 is
	// DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
}

// Handler serves the REST routes and /openapi.json.
type Handler struct {
	mux         *runtime.ServeMux
	maxBody     int64
	readTimeout time.Duration
}

// jsonMarshaler encodes and decodes every route's JSON (marshal.go).
var jsonMarshaler = newMarshaler()

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	h := &Handler{maxBody: cfg.MaxBodyBytes, readTimeout: cfg.BodyReadTimeout}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.readTimeout <= 0 {
		h.readTimeout = DefaultBodyReadTimeout
	}
	h.mux = runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, jsonMarshaler),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	)
	ctx := context.Background()
	if err := adminv1gw.RegisterAdminServiceHandlerClient(ctx, h.mux, adminv1.NewAdminServiceClient(cfg.Conn)); err != nil {
		return nil, fmt.Errorf("rest: admin routes: %w", err)
	}
	if err := streamv1gw.RegisterGroupServiceHandlerClient(ctx, h.mux, streamv1.NewGroupServiceClient(cfg.Conn)); err != nil {
		return nil, fmt.Errorf("rest: group routes: %w", err)
	}
	records := &Records{Stream: streamv1.NewStreamServiceClient(cfg.Conn), Partitions: cfg.Partitions}
	if err := restv1gw.RegisterRestServiceHandlerServer(ctx, h.mux, records); err != nil {
		return nil, fmt.Errorf("rest: record routes: %w", err)
	}
	return h, nil
}

// Register adds the handler's routes to mux: /v1/ and GET /openapi.json.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/v1/", h)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(OpenAPI)
	})
}

// ServeHTTP serves one REST request with its body bounded: a body over the
// limit is answered 413 (MESSAGE_TOO_LARGE) before any call is made.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > h.maxBody {
		h.tooLarge(w, r)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		// Read it all before decoding, so an oversize chunked body is
		// refused as a whole, not half-decoded, within the read timeout.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(h.readTimeout)) // not every writer supports it; then unbounded
		body, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
		_ = rc.SetReadDeadline(time.Time{})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			w.Header().Set("Connection", "close")
			runtime.DefaultHTTPErrorHandler(r.Context(), h.mux, jsonMarshaler, w, r, &runtime.HTTPStatusError{
				HTTPStatus: http.StatusRequestTimeout,
				Err:        errs.New(errs.RequestTimedOut, "the request body did not arrive within %v", h.readTimeout),
			})
			return
		}
		if err != nil {
			runtime.DefaultHTTPErrorHandler(r.Context(), h.mux, jsonMarshaler, w, r,
				errs.New(errs.InvalidRequest, "reading the request body: %v", err))
			return
		}
		if int64(len(body)) > h.maxBody {
			h.tooLarge(w, r)
			return
		}
		if n := jsonValues(body, MaxBodyValues); n > MaxBodyValues {
			h.refuse(w, r, errs.New(errs.MessageTooLarge, "the request body has more than %d JSON values", MaxBodyValues))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) tooLarge(w http.ResponseWriter, r *http.Request) {
	// Close the connection: the rest of the body may not have been read.
	w.Header().Set("Connection", "close")
	h.refuse(w, r, errs.New(errs.MessageTooLarge, "the request body is larger than %d bytes", h.maxBody))
}

// refuse answers 413 with err.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(r.Context(), h.mux, jsonMarshaler, w, r, &runtime.HTTPStatusError{
		HTTPStatus: http.StatusRequestEntityTooLarge,
		Err:        err,
	})
}

// jsonValues counts, up to past limit, an upper bound of the JSON values
// in b: one, plus one per '{', '[' and ',' outside strings. It does not
// check that b is JSON; the decoder does.
func jsonValues(b []byte, limit int) int {
	n, inString := 1, false
	for i := 0; i < len(b) && n <= limit; i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++ // skip the escaped byte
		case c == '"':
			inString = !inString
		case !inString && (c == '{' || c == '[' || c == ','):
			n++
		}
	}
	return n
}

// errorHandler writes every error as a google.rpc.Status (its details the
// ErrorDetail) with the HTTP status of its gRPC code. A body that does not
// decode (bad JSON, bad base64, an unknown field) is INVALID_ARGUMENT from
// grpc-gateway without an ErrorDetail; it gets one here.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if errs.From(err) == nil {
		if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
			err = errs.New(errs.InvalidRequest, "%s", st.Message())
		}
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
}

// routingErrorHandler answers a path no route matches (404) or a method
// the path does not serve (405) with a google.rpc.Status.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	code := codes.NotFound
	switch httpStatus {
	case http.StatusMethodNotAllowed:
		code = codes.Unimplemented
	case http.StatusBadRequest:
		code = codes.InvalidArgument
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{
		HTTPStatus: httpStatus,
		Err:        status.Errorf(code, "%s %s: %s", r.Method, r.URL.Path, strings.ToLower(http.StatusText(httpStatus))),
	})
}
