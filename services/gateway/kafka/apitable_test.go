package kafka

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiNotes are the notes column of the table of served APIs in
// docs/kafka.md; the rest of each row comes from the registry.
var apiNotes = map[int16]string{
	0:  "v2 batches pass through as bytes; acks −1/0/1 (else INVALID_REQUIRED_ACKS); acks=0 gets no response; transactional batches need the transactional id (else TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and an open transaction on the partition (else INVALID_TXN_STATE)",
	1:  "long-poll (`max_wait_ms`/`min_bytes`), `max_bytes` and partition max bytes (both clamped to `fetch.max.bytes`, 55 MiB); fetch sessions (KIP-227), see below; read_committed stops at the LSO with the aborted transactions",
	2:  "earliest, latest, max timestamp, by timestamp; read_committed latest is the LSO",
	3:  "brokers = live gateways, at their addresses for the listener the connection came in on",
	8:  "stored in etcd by the active controller; for a consumer-protocol group the generation is the member epoch (STALE_MEMBER_EPOCH)",
	9:  "stored in etcd by the active controller; v9 member id and epoch checked for consumer-protocol groups",
	10: "every gateway is every group's and every transactional id's coordinator",
	11: "classic protocol, static membership",
	12: "classic protocol",
	13: "classic protocol",
	14: "classic protocol",
	15: "classic groups; a consumer-protocol group is Dead, as in Kafka 4.0",
	16: "classic and consumer groups; v5 types filter",
	68: "KIP-848, server-side uniform and range assignors, regex subscriptions (Go RE2 syntax); see The consumer group protocol",
	69: "KIP-848",
	42: "refuses a group with members (NON_EMPTY_GROUP)",
	47: "refuses the topics members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC)",
	60: "gateways as brokers",
	18: "a newer version gets UNSUPPORTED_VERSION with a v0 body",
	19: "through the controller's admin API; manual replica assignments; answers once the new leaders are ready",
	20: "through the controller's admin API",
	22: "ids in blocks from the controller; with a transactional id, the transaction coordinator ([transactions.md](transactions.md))",
	24: "the transaction coordinator on the active controller; registers the transaction with each partition's leader",
	25: "the transaction coordinator on the active controller",
	26: "the transaction coordinator; answers once the markers are written (or after 10 s)",
	28: "offsets held with the transaction, visible to the group at its commit",
	65: "KIP-664",
	66: "KIP-664; state and producer id filters",
	32: "topic configs with type and documentation; a broker (its own id) reports Kafka's broker configs that apply, read-only",
	33: "topic configs",
	37: "through the controller's admin API; explicit assignments; answers once the new leaders are ready",
	44: "topic configs",
	21: "moves the log start on every replica; answers once every live replica has it (the low watermark), or REQUEST_TIMED_OUT; −1 is the high watermark, beyond it OFFSET_OUT_OF_RANGE",
	35: "one dir per storage node (`storage-<id>:<data dir>`) with replica sizes and volume bytes; dead nodes and offline replicas are KAFKA_STORAGE_ERROR",
	43: "preferred (0) and unclean (1); null topics = every partition",
	45: "replica ids are storage node ids; a null replica list cancels",
	46: "replica ids are storage node ids",
	48: "through the controller; filters exact/default/any, strict; keys producer_byte_rate, consumer_byte_rate, request_rate (see Quotas)",
	49: "through the controller; per-entry INVALID_REQUEST as in Kafka; validate_only; enforced per gateway (see Quotas)",
	17: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 on SASL listeners (see Listeners and SASL); v0 takes bare tokens after it",
	36: "KIP-152; session_lifetime_ms is connections.max.reauth.ms (KIP-368); a failure closes the connection",
	50: "KIP-554; through the controller",
	51: "KIP-554; through the controller, which stores only salted keys",
	29: "through the controller; Kafka's filter matching (ANY, MATCH, null strings); needs DESCRIBE on the cluster",
	30: "through the controller; stored in etcd, enforced by every gateway with `--authorizer` ([security.md](security.md)); needs ALTER on the cluster",
	31: "through the controller; answers each filter with the bindings it deleted; needs ALTER on the cluster",
	61: "the leaders' idempotent producer state with each open transaction's first offset; coordinator epoch −1",
}

const (
	apiTableBegin = "<!-- api-table: generated from the registry; TestDocsAPITable checks it -->"
	apiTableEnd   = "<!-- api-table end -->"
)

func versionRange(lo, hi int16) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

// apiTable is the table of served APIs as the registry has it: per key
// the versions served, the versions kmsg knows that are not, and the note.
func apiTable() string {
	var b strings.Builder
	b.WriteString("| key | API | versions | not served | notes |\n| --- | --- | --- | --- | --- |\n")
	for _, a := range servedAPIs() {
		var not []string
		if a.min > 0 {
			not = append(not, "v"+versionRange(0, a.min-1))
		}
		if kmax := kmsg.RequestForKey(a.key).MaxVersion(); a.max < kmax {
			not = append(not, "v"+versionRange(a.max+1, kmax))
		}
		ns := strings.Join(not, ", ")
		if ns == "" {
			ns = "–"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", a.key, apiName(a.key), versionRange(a.min, a.max), ns, apiNotes[a.key])
	}
	return b.String()
}

// The table in docs/kafka.md is the registry's: what is documented is what
// is served.
func TestDocsAPITable(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/kafka.md")
	if err != nil {
		t.Fatal(err)
	}
	want := apiTable()
	_, rest, ok := strings.Cut(string(doc), apiTableBegin+"\n")
	got, _, ok2 := strings.Cut(rest, apiTableEnd)
	if !ok || !ok2 {
		t.Fatalf("docs/kafka.md has no table between %q and %q; it should read:\n%s\n%s%s", apiTableBegin, apiTableEnd, apiTableBegin, want, apiTableEnd)
	}
	if got != want {
		t.Fatalf("the table of served APIs in docs/kafka.md differs from the registry; it should read:\n%s\n%s%s", apiTableBegin, want, apiTableEnd)
	}
	for key := range apiNotes {
		if _, ok := apis[key]; !ok {
			t.Errorf("a note for %s, which is not served", apiName(key))
		}
	}
}
