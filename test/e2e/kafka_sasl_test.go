package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	segkafka "github.com/segmentio/kafka-go"
	segscram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
)

// saslCluster is a one-node cluster on mTLS (strata certs) whose gateway
// serves PLAINTEXT, SASL_PLAINTEXT, SASL_SSL and SSL listeners, asks for
// client certificates, and requires authentication on gRPC and REST.
type saslCluster struct {
	*cluster
	plain, saslPlain, saslSSL, ssl string
	caFile, certDir                string
	clientTLS                      *tls.Config // trusts the CA, no client certificate
}

func newSASLCluster(t *testing.T) *saslCluster {
	t.Helper()
	dir := t.TempDir()
	if err := certs.WriteCluster(dir, nil, 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := ca.Issue(certs.Leaf{CommonName: "carol", Client: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.WriteFiles(dir, "carol"); err != nil {
		t.Fatal(err)
	}
	s := &saslCluster{plain: testutil.FreeAddr(t), saslPlain: testutil.FreeAddr(t), saslSSL: testutil.FreeAddr(t), ssl: testutil.FreeAddr(t),
		caFile: filepath.Join(dir, "ca.crt"), certDir: dir}
	listeners := fmt.Sprintf("PLAINTEXT://%s,SASL_PLAINTEXT://%s,CLIENT://%s,SSL://%s", s.plain, s.saslPlain, s.saslSSL, s.ssl)
	s.cluster = newCluster(t, clusterSpec{controllers: 1, storage: 1, tlsDir: dir, gatewayArgs: []string{
		"--kafka-listeners", listeners, "--advertise-kafka-listeners", listeners,
		"--kafka-listener-security-protocol-map", "CLIENT:SASL_SSL", "--tls-client-auth", "request", "--auth-required",
		"--authorizer", "--super-users", "User:alice;User:bob;User:carol;User:strata-client",
	}})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	s.clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	return s
}

// httpsGet fetches path from the gateway's HTTPS port, as user (none: "").
func (s *saslCluster) httpsGet(t *testing.T, path, user, pass string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+s.http+path, nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: s.clientTLS.Clone()}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// kafkaConns is the gateway's open Kafka connections.
func (s *saslCluster) kafkaConns(t *testing.T) float64 {
	_, page := s.httpsGet(t, "/metrics", "", "")
	v, _ := metricValue(page, "strata_gateway_kafka_connections", "")
	return v
}

func scramClient(t *testing.T, addr string, tlsCfg *tls.Config, m sasl.Mechanism, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	o := []kgo.Opt{kgo.SeedBrokers(addr), kgo.SASL(m), kgo.RetryTimeout(5 * time.Second)}
	if tlsCfg != nil {
		o = append(o, kgo.DialTLSConfig(tlsCfg.Clone()))
	}
	cl, err := kgo.NewClient(append(o, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// The Kafka SASL listeners with real clients (franz-go, kcat, sarama,
// segmentio/kafka-go), the failures that must close cleanly, and Basic
// authentication of gRPC and REST, on one cluster.
func TestKafkaSASL(t *testing.T) {
	s := newSASLCluster(t)
	ctrl := s.controllers[0].grpc
	// The first user goes through the controller (the gateway requires
	// authentication already), which takes it only from the gateway
	// identity; the second over Kafka (KIP-554).
	out, errOut, code := cliEnvStdin(t, "alice-secret\n", []string{"STRATA_TLS_CERT=" + filepath.Join(s.certDir, "gateway.crt"),
		"STRATA_TLS_KEY=" + filepath.Join(s.certDir, "gateway.key")}, "user", "create", "alice", "--password-stdin", "--server", ctrl)
	if code != 0 {
		t.Fatalf("user create: %d %s %s", code, out, errOut)
	}
	adm := kadm.NewClient(scramClient(t, s.saslSSL, s.clientTLS, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-secret"}})
	if err != nil || res.Error() != nil {
		t.Fatalf("AlterUserSCRAMs: %v %v", err, res.Error())
	}
	described, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(described) != 2 || len(described["alice"].CredInfos) != 2 || len(described["bob"].CredInfos) != 1 {
		t.Fatalf("DescribeUserSCRAMs: %v %+v", err, described)
	}
	// KIP-554 answers each user on its own, with Kafka's codes.
	bad, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "nobody", Mechanism: kadm.ScramSha256}}, []kadm.UpsertSCRAM{
		{User: "carl", Mechanism: kadm.ScramSha512, Iterations: 100, Password: "x"},
		{User: "dan", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "x"},
		{User: "dan", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "y"},
	})
	if err != nil || bad["nobody"].Err != kerr.ResourceNotFound || bad["carl"].Err != kerr.UnacceptableCredential || bad["dan"].Err != kerr.DuplicateResource {
		t.Fatalf("AlterUserSCRAMs errors: %v %+v", err, bad)
	}
	auth := []string{"--server", s.gateway.grpc, "--user", "alice", "--password", "alice-secret"}
	mustCLI(t, append([]string{"topic", "create", "sasl", "--partitions", "2", "--replication-factor", "1"}, auth...)...)
	var users []struct {
		User       string `json:"user"`
		Mechanisms []struct {
			Mechanism string `json:"mechanism"`
		} `json:"mechanisms"`
	}
	cliJSON(t, &users, append([]string{"user", "list"}, auth...)...)
	if len(users) != 2 || users[0].User != "alice" || users[1].User != "bob" || users[1].Mechanisms[0].Mechanism != "SCRAM-SHA-256" {
		t.Fatalf("user list: %+v", users)
	}
	// A deleted user cannot authenticate; created again, it can.
	mustCLI(t, append([]string{"user", "delete", "bob"}, auth...)...)
	if err := scramClient(t, s.saslPlain, nil, plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism()).Ping(ctx); err == nil {
		t.Fatal("a deleted user authenticated")
	}
	if _, errOut, code := cliEnvStdin(t, "bob-secret\n", []string{"STRATA_USER=alice", "STRATA_PASSWORD=alice-secret"},
		"user", "create", "bob", "--password-stdin", "--mechanism", "SCRAM-SHA-256", "--iterations", "4096", "--server", s.gateway.grpc); code != 0 {
		t.Fatalf("user create bob: %s", errOut)
	}

	t.Run("franz-go SCRAM-SHA-512 over SASL_SSL, group", func(t *testing.T) {
		m := scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()
		p := scramClient(t, s.saslSSL, s.clientTLS, m)
		for i := range 20 {
			if err := p.ProduceSync(ctx, &kgo.Record{Topic: "sasl", Value: fmt.Appendf(nil, "f-%d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		// Metadata answers with the SASL_SSL listener's address.
		brokers, err := kadm.NewClient(p).ListBrokers(ctx)
		if err != nil || len(brokers) != 1 || net.JoinHostPort(brokers[0].Host, fmt.Sprint(brokers[0].Port)) != s.saslSSL {
			t.Fatalf("brokers %+v (%v), want %s", brokers, err, s.saslSSL)
		}
		c := scramClient(t, s.saslSSL, s.clientTLS, m, kgo.ConsumeTopics("sasl"), kgo.ConsumerGroup("sasl-g"))
		if got := consumeN(t, c, 20, 30*time.Second); len(got) < 20 {
			t.Fatalf("consumed %d", len(got))
		}
	})
	t.Run("franz-go PLAIN over SASL_PLAINTEXT", func(t *testing.T) {
		m := plain.Auth{User: "bob", Pass: "bob-secret"}.AsMechanism()
		p := scramClient(t, s.saslPlain, nil, m)
		if err := p.ProduceSync(ctx, &kgo.Record{Topic: "sasl", Partition: 0, Value: []byte("plain")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		brokers, err := kadm.NewClient(p).ListBrokers(ctx)
		if err != nil || len(brokers) != 1 || net.JoinHostPort(brokers[0].Host, fmt.Sprint(brokers[0].Port)) != s.saslPlain {
			t.Fatalf("brokers %+v (%v), want %s", brokers, err, s.saslPlain)
		}
	})
	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat is not installed")
		}
		run := func(stdin string, args ...string) (string, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, kcat, args...)
			cmd.Stdin = strings.NewReader(stdin)
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		ssl := []string{"-b", s.saslSSL, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=alice", "-X", "sasl.password=alice-secret", "-X", "ssl.ca.location=" + s.caFile}
		mustCLI(t, append([]string{"topic", "create", "kcat-sasl", "--partitions", "1", "--replication-factor", "1"}, auth...)...)
		if out, err := run("k1\nk2\nk3\n", append(ssl, "-P", "-t", "kcat-sasl")...); err != nil {
			t.Fatalf("kcat produce: %v\n%s", err, out)
		}
		out, err := run("", append(ssl, "-C", "-t", "kcat-sasl", "-o", "beginning", "-c", "3", "-q", "-f", "%s\n")...)
		if err != nil || strings.Fields(out)[0] != "k1" || len(strings.Fields(out)) != 3 {
			t.Fatalf("kcat consume: %v\n%s", err, out)
		}
		out, err = run("", "-b", s.saslPlain, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
			"-X", "sasl.username=bob", "-X", "sasl.password=bob-secret", "-L")
		if err != nil || !strings.Contains(out, "broker 1 at "+s.saslPlain) {
			t.Fatalf("kcat -L over SASL_PLAINTEXT: %v\n%s", err, out)
		}
		out, err = run("", append(append([]string{}, ssl[:len(ssl)-4]...), "-X", "sasl.password=wrong", "-X", "ssl.ca.location="+s.caFile, "-L", "-m", "2")...)
		if err == nil || !strings.Contains(out, "Authentication failed") {
			t.Fatalf("kcat with a wrong password: %v\n%s", err, out)
		}
	})
	t.Run("sarama SCRAM-SHA-512 over SASL_SSL", func(t *testing.T) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V3_6_0_0
		cfg.Producer.Return.Successes = true
		cfg.Net.TLS.Enable, cfg.Net.TLS.Config = true, s.clientTLS.Clone()
		cfg.Net.SASL.Enable, cfg.Net.SASL.User, cfg.Net.SASL.Password = true, "alice", "alice-secret"
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &xdgSCRAM{hash: xscram.SHA512} }
		sp, err := sarama.NewSyncProducer([]string{s.saslSSL}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		part, off, err := sp.SendMessage(&sarama.ProducerMessage{Topic: "sasl", Partition: 1, Value: sarama.StringEncoder("sarama")})
		sp.Close()
		if err != nil {
			t.Fatal(err)
		}
		cons, err := sarama.NewConsumer([]string{s.saslSSL}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		pc, err := cons.ConsumePartition("sasl", part, off)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		select {
		case m := <-pc.Messages():
			if string(m.Value) != "sarama" {
				t.Fatalf("sarama consumed %q", m.Value)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("sarama consumed nothing")
		}
	})
	t.Run("segmentio SCRAM-SHA-256 over SASL_SSL", func(t *testing.T) {
		m, err := segscram.Mechanism(segscram.SHA256, "bob", "bob-secret")
		if err != nil {
			t.Fatal(err)
		}
		tr := &segkafka.Transport{SASL: m, TLS: s.clientTLS.Clone()}
		defer tr.CloseIdleConnections()
		w := &segkafka.Writer{Addr: segkafka.TCP(s.saslSSL), Topic: "sasl", Transport: tr, RequiredAcks: segkafka.RequireAll,
			Balancer: segkafka.BalancerFunc(func(segkafka.Message, ...int) int { return 0 }), BatchTimeout: 10 * time.Millisecond}
		if err := w.WriteMessages(ctx, segkafka.Message{Value: []byte("segmentio")}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		r := segkafka.NewReader(segkafka.ReaderConfig{Brokers: []string{s.saslSSL}, Topic: "sasl", Partition: 0, MaxWait: 500 * time.Millisecond,
			Dialer: &segkafka.Dialer{SASLMechanism: m, TLS: s.clientTLS.Clone(), Timeout: 10 * time.Second}})
		defer r.Close()
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		defer rcancel()
		for {
			msg, err := r.ReadMessage(rctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Value) == "segmentio" {
				break
			}
		}
	})
	t.Run("SSL with a client certificate", func(t *testing.T) {
		cert, err := tls.LoadX509KeyPair(filepath.Join(s.certDir, "carol.crt"), filepath.Join(s.certDir, "carol.key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.clientTLS.Clone()
		cfg.Certificates = []tls.Certificate{cert}
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.ssl), kgo.DialTLSConfig(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sasl", Value: []byte("ssl")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ACLs apply to SASL principals", func(t *testing.T) {
		if _, errOut, code := cliEnvStdin(t, "dave-secret\n", []string{"STRATA_USER=alice", "STRATA_PASSWORD=alice-secret"},
			"user", "create", "dave", "--password-stdin", "--server", s.gateway.grpc); code != 0 {
			t.Fatalf("user create dave: %s", errOut)
		}
		dave := scramClient(t, s.saslSSL, s.clientTLS, scram.Auth{User: "dave", Pass: "dave-secret"}.AsSha512Mechanism(),
			kgo.DefaultProduceTopic("sasl"), kgo.RecordRetries(0), kgo.UnknownTopicRetries(0))
		err := dave.ProduceSync(ctx, &kgo.Record{Value: []byte("dave")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("dave without an ACL: %v", err)
		}
		mustCLI(t, append([]string{"acl", "create", "--allow-principal", "User:dave", "--operation", "Write", "--operation", "Describe", "--topic", "sasl"}, auth...)...)
		testutil.WaitFor(t, 30*time.Second, func() error {
			return dave.ProduceSync(ctx, &kgo.Record{Value: []byte("dave")}).FirstErr()
		})
	})
	t.Run("failures close cleanly", func(t *testing.T) {
		fails := func(name string, addr string, tlsCfg *tls.Config, m sasl.Mechanism, want error) {
			t.Helper()
			cl := scramClient(t, addr, tlsCfg, m)
			err := cl.Ping(ctx)
			if err == nil || (want != nil && !strings.Contains(err.Error(), want.Error())) {
				t.Errorf("%s: ping %v, want %v", name, err, want)
			}
			cl.Close()
		}
		fails("wrong password", s.saslSSL, s.clientTLS, scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed)
		fails("unknown user", s.saslSSL, s.clientTLS, scram.Auth{User: "mallory", Pass: "x"}.AsSha256Mechanism(), kerr.SaslAuthenticationFailed)
		fails("PLAIN wrong password", s.saslPlain, nil, plain.Auth{User: "alice", Pass: "nope"}.AsMechanism(), kerr.SaslAuthenticationFailed)
		fails("mechanism the user lacks", s.saslPlain, nil, scram.Auth{User: "bob", Pass: "bob-secret"}.AsSha512Mechanism(), kerr.SaslAuthenticationFailed)
		fails("nonce mismatch", s.saslPlain, nil, badNonce{user: "alice", pass: "alice-secret"}, kerr.SaslAuthenticationFailed)
		fails("plaintext client on the TLS port", s.saslSSL, nil, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), nil)
		fails("unsupported mechanism", s.saslPlain, nil, namedMechanism{"GSSAPI"}, kerr.UnsupportedSaslMechanism)

		// A request other than ApiVersions or SASL before authentication is
		// answered ILLEGAL_SASL_STATE and the connection closes.
		nc, err := net.DialTimeout("tcp", s.saslPlain, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.Version, req.CoordinatorKey = 1, "g"
		body := req.AppendTo(nil)
		frame := binary.BigEndian.AppendUint32(nil, uint32(2+2+4+2+len(body)))
		frame = binary.BigEndian.AppendUint16(frame, 10)
		frame = binary.BigEndian.AppendUint16(frame, 1)
		frame = binary.BigEndian.AppendUint32(frame, 7)
		frame = binary.BigEndian.AppendUint16(frame, 0xffff) // null client id
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := nc.Write(append(frame, body...)); err != nil {
			t.Fatal(err)
		}
		var size [4]byte
		if _, err := io.ReadFull(nc, size[:]); err != nil {
			t.Fatal(err)
		}
		resp := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(nc, resp); err != nil {
			t.Fatal(err)
		}
		fr := kmsg.NewPtrFindCoordinatorResponse()
		fr.Version = 1
		if err := fr.ReadFrom(resp[4:]); err != nil || fr.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("FindCoordinator before auth: %v, code %d", err, fr.ErrorCode)
		}
		if _, err := nc.Read(size[:]); err != io.EOF {
			t.Fatalf("the connection stays open after ILLEGAL_SASL_STATE: %v", err)
		}
		nc.Close()
	})
	t.Run("gRPC and REST authentication", func(t *testing.T) {
		if out, errOut, code := cli(t, "topic", "list", "--server", s.gateway.grpc, "--user", "alice", "--password", "wrong"); code == 0 || !strings.Contains(errOut, "authentication failed") {
			t.Fatalf("wrong password: %d %s %s", code, out, errOut)
		}
		noCert := []string{"STRATA_TLS_CERT=", "STRATA_TLS_KEY="}
		if _, errOut, code := cliEnv(t, noCert, "topic", "list", "--server", s.gateway.grpc); code == 0 || !strings.Contains(errOut, "authentication required") {
			t.Fatalf("no credentials: %d %s", code, errOut)
		}
		// The client certificate alone authenticates (User:strata-client).
		if out, errOut, code := cli(t, "topic", "list", "--server", s.gateway.grpc); code != 0 || !strings.Contains(out, "sasl") {
			t.Fatalf("client certificate: %d %s %s", code, out, errOut)
		}
		if out, _, code := cliEnv(t, []string{"STRATA_USER=bob", "STRATA_PASSWORD=bob-secret"}, "topic", "list", "--server", s.gateway.grpc); code != 0 || !strings.Contains(out, "sasl") {
			t.Fatalf("env credentials: %d %s", code, out)
		}
		// Commands on the Go client (strata group) authenticate too.
		if out, errOut, code := cliEnv(t, []string{"STRATA_USER=alice", "STRATA_PASSWORD=alice-secret"}, "group", "list", "--server", s.gateway.grpc); code != 0 {
			t.Fatalf("group list: %d %s %s", code, out, errOut)
		}
		if _, _, code := cliEnv(t, noCert, "group", "list", "--server", s.gateway.grpc, "--timeout", "5s"); code == 0 {
			t.Fatal("group list without credentials succeeded")
		}
		get := func(user, pass string) int {
			code, _ := s.httpsGet(t, "/v1/topics", user, pass)
			return code
		}
		if c := get("alice", "alice-secret"); c != 200 {
			t.Fatalf("REST with Basic: %d", c)
		}
		if c := get("alice", "x"); c != 401 {
			t.Fatalf("REST with a wrong password: %d", c)
		}
		if c := get("", ""); c != 401 {
			t.Fatalf("REST without credentials: %d", c)
		}
	})
	adm.Close()
	// Every connection the clients opened is gone.
	testutil.WaitFor(t, 30*time.Second, func() error {
		if n := s.kafkaConns(t); n != 0 {
			return fmt.Errorf("%v Kafka connections still open", n)
		}
		return nil
	})
	if out := s.gateway.output(); strings.Contains(out, "panic") {
		t.Fatalf("the gateway panicked:\n%s", out)
	}
}

// cliEnvStdin runs a CLI command with stdin.
func cliEnvStdin(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Env = append(append(os.Environ(), cliTLSEnv(args)...), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// xdgSCRAM is sarama's SCRAM client over xdg-go/scram (as sarama's examples do).
type xdgSCRAM struct {
	hash xscram.HashGeneratorFcn
	conv *xscram.ClientConversation
}

func (x *xdgSCRAM) Begin(user, pass, authz string) error {
	c, err := x.hash.NewClient(user, pass, authz)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}
func (x *xdgSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *xdgSCRAM) Done() bool                            { return x.conv.Done() }

// badNonce is SCRAM-SHA-512 whose client-final message changes the nonce.
type badNonce struct{ user, pass string }

func (badNonce) Name() string { return "SCRAM-SHA-512" }
func (b badNonce) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	c, err := xscram.SHA512.NewClient(b.user, b.pass, "")
	if err != nil {
		return nil, nil, err
	}
	conv := c.NewConversation()
	first, err := conv.Step("")
	return &badNonceSession{conv}, []byte(first), err
}

type badNonceSession struct{ conv *xscram.ClientConversation }

func (s *badNonceSession) Challenge(b []byte) (bool, []byte, error) {
	out, err := s.conv.Step(string(b))
	if err != nil {
		return false, nil, err
	}
	return false, []byte(strings.Replace(out, ",r=", ",r=x", 1)), nil
}

// namedMechanism asks for a mechanism by name and sends nothing.
type namedMechanism struct{ name string }

func (m namedMechanism) Name() string { return m.name }
func (m namedMechanism) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	return nil, nil, fmt.Errorf("not reached")
}
