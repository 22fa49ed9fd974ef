package kafka

// Client quotas (KIP-13, KIP-219, KIP-546) on the Kafka listener, as a
// Kafka broker's ClientQuotaManager enforces them, per gateway:
//
//   - producer_byte_rate: the bytes of each Produce request (its frame) are
//     recorded when it is answered;
//   - consumer_byte_rate: the bytes of each Fetch response are recorded; a
//     fetch never asks for more than the quota allows in one window, and a
//     throttled fetch is answered empty (its bytes taken back out of the
//     rate), as Kafka does;
//   - request_rate (Strata's, in place of Kafka's request_percentage):
//     every request counts one; its throttle is at most one sample window,
//     as Kafka bounds its request quota's (a Fetch it throttles is
//     answered empty too).
//
// A rate over its quota gives throttle_time_ms = (rate − quota) / quota ×
// the window the rate was measured over (quota.window.num samples of
// quota.window.size.seconds), the largest of the three is put in the
// response, and the connection is muted: no further request of it is read
// or run for that long. Versions where the client throttles itself (kmsg's
// Throttle reports them; Produce v6+, Fetch v8+, …) get the response at
// once; older ones get it when the throttle ends. Every connection's user
// is ANONYMOUS until SASL arrives.

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/internal/quota"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaMatches are the quotas of one request's connection, by key.
func (s *Server) quotaMatches(clientID string) map[string]quota.Match {
	if s.quotas == nil {
		return nil
	}
	return s.quotas.Quotas(quota.Anonymous, clientID)
}

// throttleKeys are the quota keys in the order of Server.throttles.
var throttleKeys = [...]string{quota.ProducerByteRate, quota.ConsumerByteRate, quota.RequestRate}

// throttleStats counts the throttles of one quota key, for metrics.
type throttleStats struct {
	count, millis atomic.Int64
}

// recordQuotas records the request-rate and produce byte-rate quotas of a
// request that was just answered (resp nil: acks=0) and returns the
// throttle to apply, a Fetch's (set by its handler, throttleFetch)
// included.
func (s *Server) recordQuotas(req *request, resp kmsg.Response) time.Duration {
	if s.quotas == nil {
		return 0
	}
	d, which := req.throttle, req.throttledBy
	if !req.quotasRecorded { // else its handler did (throttleFetch)
		qs := s.quotaMatches(req.clientID)
		if q, ok := qs[quota.ProducerByteRate]; ok && req.key == 0 {
			if pd := s.quotas.Record(q, float64(req.size)); pd > d {
				d, which = pd, 0
			}
		}
		// Kafka exempts acks=0 produce from the request quota (it has no
		// response to carry the throttle) but not from the byte rate.
		if q, ok := qs[quota.RequestRate]; ok && resp != nil {
			if rd := s.requestThrottle(q); rd > d {
				d, which = rd, 2
			}
		}
	}
	if d > 0 {
		s.throttles[which].count.Add(1)
		s.throttles[which].millis.Add(d.Milliseconds())
	}
	return d
}

// requestThrottle records one request against a request_rate quota; Kafka
// bounds a request-quota throttle by one sample window.
func (s *Server) requestThrottle(q quota.Match) time.Duration {
	return min(s.quotas.Record(q, 1), s.quotas.SampleWindow())
}

// ThrottleStats reports, per quota key, how many responses were throttled
// for it and for how long in all, for metrics.
func (s *Server) ThrottleStats() map[string][2]int64 {
	out := make(map[string][2]int64, len(throttleKeys))
	for i, k := range throttleKeys {
		out[k] = [2]int64{s.throttles[i].count.Load(), s.throttles[i].millis.Load()}
	}
	return out
}

// fetchQuota is the consumer byte-rate quota of a fetch, when one applies.
func (s *Server) fetchQuota(clientID string) (quota.Match, bool) {
	q, ok := s.quotaMatches(clientID)[quota.ConsumerByteRate]
	return q, ok
}

// fetchResponseSize estimates a fetch response's bytes: the records and a
// fixed overhead per topic and partition.
func fetchResponseSize(resp *kmsg.FetchResponse) int {
	n := 16
	for i := range resp.Topics {
		t := &resp.Topics[i]
		n += 8 + len(t.Topic)
		for j := range t.Partitions {
			n += 48 + len(t.Partitions[j].RecordBatches)
		}
	}
	return n
}

// throttleFetch records a Fetch against its request-rate and consumer
// byte-rate quotas, as Kafka's handleFetchRequest does: when either is
// over, the response is emptied, its bytes are taken back out of the byte
// rate, and the larger throttle goes in the response (and in r, for the
// connection's mute).
func (s *Server) throttleFetch(r *request, resp *kmsg.FetchResponse) bool {
	if s.quotas == nil {
		return false
	}
	r.quotasRecorded = true
	qs := s.quotaMatches(r.clientID)
	var d time.Duration
	which := -1
	if q, ok := qs[quota.RequestRate]; ok {
		if rd := s.requestThrottle(q); rd > 0 {
			d, which = rd, 2
		}
	}
	cq, bytesQuota := qs[quota.ConsumerByteRate]
	size := float64(fetchResponseSize(resp))
	if bytesQuota {
		if bd := s.quotas.Record(cq, size); bd > d {
			d, which = bd, 1
		}
	}
	if d <= 0 {
		return false
	}
	if bytesQuota {
		s.quotas.Unrecord(cq, size)
	}
	r.throttle, r.throttledBy = d, which
	resp.ThrottleMillis = int32(min(d.Milliseconds(), 1<<31-1))
	resp.Topics = nil
	return true
}

// mute holds the connection's next requests for d.
func (c *conn) mute(d time.Duration) {
	until := time.Now().Add(d)
	c.muteMu.Lock()
	if until.After(c.mutedUntil) {
		c.mutedUntil = until
	}
	c.muteMu.Unlock()
}

// waitMuted waits until the connection is no longer muted; false when the
// connection ends or drains meanwhile.
func (c *conn) waitMuted() bool {
	for {
		c.muteMu.Lock()
		until := c.mutedUntil
		c.muteMu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			return true
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.draining:
			t.Stop()
			return false
		case <-c.ctx.Done():
			t.Stop()
			return false
		}
	}
}

// applyThrottle puts the throttle in the response and mutes the
// connection; for versions where the client does not throttle itself it
// also waits the throttle out before the response goes.
func (c *conn) applyThrottle(ctx context.Context, resp kmsg.Response, d time.Duration) {
	if d <= 0 {
		return
	}
	c.mute(d)
	tr, ok := resp.(interface {
		kmsg.ThrottleResponse
		kmsg.SetThrottleResponse
	})
	if !ok {
		return
	}
	tr.SetThrottle(int32(min(d.Milliseconds(), 1<<31-1)))
	if _, clientThrottles := tr.Throttle(); clientThrottles {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
