package cli

import "testing"

func TestQuotaFlags(t *testing.T) {
	if got, err := parseQuotas([]string{"producer_byte_rate=1048576", "request_rate=2.5"}); err != nil ||
		got["producer_byte_rate"] != 1<<20 || got["request_rate"] != 2.5 {
		t.Fatalf("parseQuotas: %v, %v", got, err)
	}
	for _, bad := range []string{"producer_byte_rate", "=5", "request_rate=fast"} {
		if _, err := parseQuotas([]string{bad}); err == nil {
			t.Errorf("--quota %q accepted", bad)
		}
	}
	if _, err := (&quotaEntityFlags{}).entity(); err == nil {
		t.Error("an entity without parts accepted")
	}
	if _, err := (&quotaEntityFlags{user: "u", userDefault: true}).entity(); err == nil {
		t.Error("--user with --user-default accepted")
	}
	e, err := (&quotaEntityFlags{userDefault: true, clientID: "app"}).entity()
	if err != nil || entityString(e) != "user=<default>, client-id=app" {
		t.Fatalf("entity: %v, %v", entityString(e), err)
	}
	f, err := (&quotaEntityFlags{}).filter()
	if err != nil || len(f) != 0 {
		t.Fatalf("no flags: filter %v, %v", f, err)
	}
}
