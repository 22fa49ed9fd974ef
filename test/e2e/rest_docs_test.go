package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Every curl block of docs/rest.md runs, in order, against a fresh cluster.
func TestRestCurlExamples(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skipf("curl is not installed (%v)", err)
	}
	doc, err := os.ReadFile("../../docs/rest.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples []string
	for _, block := range strings.Split(string(doc), "```sh\n")[1:] {
		cmd, _, _ := strings.Cut(block, "```")
		if strings.HasPrefix(cmd, "curl ") {
			examples = append(examples, cmd)
		}
	}
	// What an example must print, by a piece of its command line (its
	// words joined by single spaces).
	checks := map[string][]string{
		"-X POST localhost:8080/v1/topics -d":                 {`"name":"orders"`, `"partitionCount":3`},
		"-s localhost:8080/v1/topics ":                        {`"name":"orders"`},
		"-s localhost:8080/v1/topics/orders/configs ":         {`"retention.ms"`},
		"-X PATCH localhost:8080/v1/topics/orders/configs":    {`"retention.ms":"86400000"`},
		"-X POST localhost:8080/v1/topics/orders/partitions":  {`"partitionCount":4`},
		"localhost:8080/v1/cluster":                           {`"clusterId"`, `"storageNodes"`},
		"-X POST localhost:8080/v1/topics/orders/records":     {`"offset":"0"`, `"offset":"1"`, `"error":null`},
		"offset=0&format=json":                                {`"text":"customer-42"`, `"json":{"amount":12.5`, `"nextOffset"`},
		"offset=0&max_records=1":                              {`"binary":"aGVsbG8="`, `"nextOffset":"1"`},
		"offset=99":                                           {`"code":11`, `ERROR_CODE_OFFSET_OUT_OF_RANGE`, `HTTP 400`},
		"offsets?at=latest":                                   {`"partitions"`, `"offset"`},
		"offsets?at=1700000000000":                            {`"partitions"`, `"offset":"0"`},
		"-X POST localhost:8080/v1/groups/billing/offsets -d": {`"results"`, `"error":null`},
		"-s localhost:8080/v1/groups ":                        {`"groupId":"billing"`},
		"-s localhost:8080/v1/groups/billing ":                {`"totalLag"`, `"committedOffset":"1"`},
		"-s localhost:8080/v1/groups/billing/offsets ":        {`"offset":"1"`},
		"offsets:reset":                                       {`"executed":true`, `"newOffset":"0"`},
		"localhost:8080/openapi.json":                         {`"swagger":"2.0"`, `"/v1/topics/{topic}/records"`},
		"-X DELETE localhost:8080/v1/topics/orders":           {`{}`},
	}
	if len(examples) < len(checks) {
		t.Fatalf("docs/rest.md has %d curl examples, want at least %d", len(examples), len(checks))
	}
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	for _, ex := range examples {
		cmd := strings.ReplaceAll(ex, "localhost:8080", c.http)
		sh := exec.Command("bash", "-euo", "pipefail", "-c", cmd)
		sh.Env = append(os.Environ(), "PATH="+filepath.Dir(curl)+":"+os.Getenv("PATH"))
		out, err := sh.CombinedOutput()
		first, _, _ := strings.Cut(ex, "\n")
		if err != nil {
			t.Fatalf("%s: %v\n%s", first, err, out)
		}
		if len(out) > 2000 {
			t.Logf("$ %s\n%s ... (%d bytes)", strings.TrimSpace(ex), out[:2000], len(out))
		} else {
			t.Logf("$ %s\n%s", strings.TrimSpace(ex), out)
		}
		// The server's and curl's spacing aside.
		got := strings.NewReplacer(`": `, `":`, `, "`, `,"`).Replace(string(out))
		words := strings.Join(strings.Fields(ex), " ") + " "
		checked := false
		for key, wants := range checks {
			if !strings.Contains(words, key) {
				continue
			}
			checked = true
			for _, w := range wants {
				if !strings.Contains(got, w) {
					t.Fatalf("%s: output lacks %s:\n%s", first, w, out)
				}
			}
		}
		if !checked {
			t.Fatalf("no check for the example %s", first)
		}
		if strings.Contains(words, "-X POST localhost:8080/v1/topics -d") {
			waitTopicsReady(t, c, map[string]int{"orders": 3})
		}
	}
}
