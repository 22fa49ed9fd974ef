// Package config applies a role's YAML config file and STRATA_* environment
// variables to its command-line flags. Every flag can be set in the file
// under its own name; precedence is flag > environment > file > default.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// EnvName is the environment variable that sets the flag: grpc-addr →
// STRATA_GRPC_ADDR.
func EnvName(flag string) string {
	return "STRATA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Load sets every flag of fs that was not given on the command line from the
// environment, or else from the YAML file at path (when path is not empty).
func Load(fs *pflag.FlagSet, path string) error {
	fromFile := map[string]any{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(data, &fromFile); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	var errs []error
	keys := make([]string, 0, len(fromFile))
	for k := range fromFile {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if fs.Lookup(k) == nil || k == "config" {
			errs = append(errs, fmt.Errorf("config %s: unknown field %q", path, k))
		}
	}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv(EnvName(f.Name)); ok {
			if err := set(f, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", EnvName(f.Name), err))
			}
			return
		}
		if v, ok := fromFile[f.Name]; ok {
			if err := setAny(f, v); err != nil {
				errs = append(errs, fmt.Errorf("config %s: %s: %w", path, f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

func setAny(f *pflag.Flag, v any) error {
	switch v := v.(type) {
	case []any:
		items := make([]string, len(v))
		for i, item := range v {
			items[i] = fmt.Sprint(item)
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.Replace(items)
		}
		return set(f, strings.Join(items, ","))
	case map[string]any:
		pairs := make([]string, 0, len(v))
		for k, item := range v {
			pairs = append(pairs, k+"="+fmt.Sprint(item))
		}
		sort.Strings(pairs)
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			return sv.Replace(pairs)
		}
		return set(f, strings.Join(pairs, ","))
	case nil:
		return nil
	default:
		return set(f, fmt.Sprint(v))
	}
}

func set(f *pflag.Flag, v string) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		if v == "" {
			return sv.Replace(nil)
		}
		return sv.Replace(strings.Split(v, ","))
	}
	return f.Value.Set(v)
}

// Problems collects one error per bad field, for a role's Validate.
type Problems struct{ errs []error }

// Addf records a problem with field.
func (p *Problems) Addf(field, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

// Addr checks that v is a host:port listen or dial address.
func (p *Problems) Addr(field, v string) {
	if _, port, err := net.SplitHostPort(v); err != nil {
		p.Addf(field, "%q is not host:port", v)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		p.Addf(field, "%q has an invalid port", v)
	}
}

// Controllers checks a role's --controllers list: at least one, each
// host:port.
func (p *Problems) Controllers(addrs []string) {
	if len(addrs) == 0 {
		p.Addf("controllers", "at least one controller address is needed")
	}
	for _, a := range addrs {
		p.Addr("controllers", a)
	}
}

// Err returns the collected problems as one error, or nil.
func (p *Problems) Err() error {
	if len(p.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration:\n  %w", joinIndented(p.errs))
}

func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

// Advertise returns the address other roles dial for a listener bound to
// listen: an explicit advertise address, or the hostname (loopback for a
// loopback bind) with the bound port. An explicit address without a host
// (":9290") is this machine's own IP address with that port: a replica of
// a scaled container service knows no name of its own that others can
// resolve, but its address on the container network (ownIP).
func Advertise(explicit, listen string) string {
	if host, port, err := net.SplitHostPort(explicit); err == nil && host == "" {
		if ip := ownIP(); ip != "" {
			return net.JoinHostPort(ip, port)
		}
		if h, err := os.Hostname(); err == nil {
			return net.JoinHostPort(h, port)
		}
	}
	if explicit != "" {
		return explicit
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		if h, err := os.Hostname(); err == nil {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// ownIP is the first global unicast IPv4 address of this machine's
// interfaces (a container has one per network it is on), or "".
func ownIP() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	return ""
}
