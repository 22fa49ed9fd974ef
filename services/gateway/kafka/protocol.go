package kafka

import (
	"context"
	"encoding/binary"
	"net"
	"reflect"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// request is one decoded request.
type request struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	// size is the frame's length (header and body), what Kafka records
	// against producer_byte_rate.
	size int
	// quotasRecorded is set when the handler recorded the request's
	// quotas itself (Fetch), throttle is the throttle it decided and
	// throttledBy the index in throttleKeys of the quota that set it.
	quotasRecorded bool
	throttle       time.Duration
	throttledBy    int
	// body is nil when the key or version is not served; raw is the body
	// bytes after the header.
	body kmsg.Request
	raw  []byte
}

// handlerFunc serves one request. A nil response sends nothing (acks=0);
// an error closes the connection.
type handlerFunc func(ctx context.Context, s *Server, r *request) (kmsg.Response, error)

// api is one registered API key.
type api struct {
	key, min, max int16
	handle        handlerFunc
}

// apis is the registry; each API file adds itself in init.
var apis = map[int16]api{}

// register adds an API key with the versions it serves.
func register(key, minVersion, maxVersion int16, h handlerFunc) {
	if _, dup := apis[key]; dup {
		panic("kafka: API key registered twice: " + apiName(key))
	}
	if kmax := kmsg.RequestForKey(key).MaxVersion(); maxVersion > kmax {
		panic("kafka: " + apiName(key) + " registered past kmsg's max version")
	}
	apis[key] = api{key: key, min: minVersion, max: maxVersion, handle: h}
}

// servedAPIs lists the registry sorted by key.
func servedAPIs() []api {
	out := make([]api, 0, len(apis))
	for _, a := range apis {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func apiName(key int16) string { return kmsg.NameForKey(key) }

// parseRequest decodes a frame (without its size prefix). A request whose
// key or version is not served comes back with a nil body; only a frame
// whose header does not decode is an error.
func parseRequest(frame []byte) (*request, error) {
	r := kbin.Reader{Src: frame}
	req := &request{key: r.Int16(), version: r.Int16(), corr: r.Int32(), size: len(frame)}
	if cid := r.NullableString(); cid != nil {
		req.clientID = *cid
	}
	if !r.Ok() {
		return nil, closeReason("malformed request header")
	}
	a, served := apis[req.key]
	if !served || req.version < a.min || req.version > a.max {
		req.raw = r.Src
		return req, nil
	}
	body := kmsg.RequestForKey(req.key)
	body.SetVersion(req.version)
	if body.IsFlexible() { // request header v2 (ApiVersions v3+ too; only its response header stays v0)
		skipTags(&r)
		if !r.Ok() {
			return nil, closeReason("malformed tagged fields in the %s request header", apiName(req.key))
		}
	}
	req.raw = r.Src
	if req.key == 0 {
		if err := guardProduce(r.Src, req.version, len(frame)); err != nil {
			return nil, err
		}
	}
	if err := body.ReadFrom(r.Src); err != nil {
		return nil, closeReason("malformed %s v%d request: %v", apiName(req.key), req.version, err)
	}
	req.body = body
	return req, nil
}

// skipTags skips a tagged-field section, stopping at the first short read
// (kmsg.SkipTags would loop over a huge bogus count).
func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
	}
}

// dispatch runs the handler for a served request and answers every other
// one with UNSUPPORTED_VERSION where the response has a place for it.
func (s *Server) dispatch(ctx context.Context, req *request) (kmsg.Response, error) {
	if req.body != nil {
		return s.authorize(ctx, req, apis[req.key].handle)
	}
	if req.key == 18 { // ApiVersions: answer with a v0 body listing the ranges
		return unsupportedAPIVersions(), nil
	}
	kr := kmsg.ResponseForKey(req.key)
	if kr == nil || req.version < 0 || req.version > kr.MaxVersion() {
		return nil, closeReason("unknown API key %d version %d", req.key, req.version)
	}
	if !setErrorCode(kr, req.version, 35, apiName(req.key)+" is not served by Strata at this version") { // UNSUPPORTED_VERSION
		return nil, closeReason("%s v%d is not served and its response has no error code", apiName(req.key), req.version)
	}
	return kr, nil
}

// setErrorCode sets a response's top-level error code and message, if it
// has them; false when it has no error code.
func setErrorCode(kr kmsg.Response, version, code int16, msg string) bool {
	kr.SetVersion(version)
	f := reflect.ValueOf(kr).Elem().FieldByName("ErrorCode")
	if !f.IsValid() || f.Kind() != reflect.Int16 {
		return false
	}
	f.SetInt(int64(code))
	if m := reflect.ValueOf(kr).Elem().FieldByName("ErrorMessage"); m.IsValid() && m.Kind() == reflect.Pointer {
		m.Set(reflect.ValueOf(&msg))
	}
	return true
}

// illegalSASLState is the ILLEGAL_SASL_STATE answer to a request a SASL
// connection may not send yet (nil when its response has no error code:
// the connection just closes).
func illegalSASLState(req *request, msg string) kmsg.Response {
	kr := kmsg.ResponseForKey(req.key)
	if kr == nil || req.version < 0 || req.version > kr.MaxVersion() || !setErrorCode(kr, req.version, errIllegalSASLState, msg) {
		return nil
	}
	return kr
}

// sizeHint is about the encoded size of resp, so that a large fetch
// response is encoded into one buffer instead of one that append regrows
// and copies (a quarter of a consuming gateway's CPU was that encoding).
func sizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 64
	}
	n := 64
	for _, t := range f.Topics {
		n += 64 + len(t.Topic)
		for _, p := range t.Partitions {
			n += 64 + 16*len(p.AbortedTransactions) + len(p.RecordBatches)
		}
	}
	return n
}

// frameResponse frames a response for the write loop: a fetch response
// around its batches (encodeFetch), any other in one buffer.
func frameResponse(req *request, resp kmsg.Response) net.Buffers {
	if f, ok := resp.(*kmsg.FetchResponse); ok {
		if out, ok := encodeFetch(req.corr, f); ok {
			return out
		}
	}
	return net.Buffers{encodeResponse(req, resp)}
}

// encodeResponse frames a response: size, correlation id, header tags
// (flexible versions other than ApiVersions), body.
func encodeResponse(req *request, resp kmsg.Response) []byte {
	out := make([]byte, 8, 8+sizeHint(resp))
	binary.BigEndian.PutUint32(out[4:], uint32(req.corr))
	if resp.IsFlexible() && resp.Key() != 18 {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}
