package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/quota"
)

// quotaEntityFlags name a client quota entity (or, for list, a filter), as
// kafka-configs.sh's --entity-type/--entity-name/--entity-default do.
type quotaEntityFlags struct {
	user, clientID               string
	userDefault, clientIDDefault bool
}

func (e *quotaEntityFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&e.user, "user", "", "the user (every connection is "+quota.Anonymous+" until authentication arrives)")
	cmd.Flags().BoolVar(&e.userDefault, "user-default", false, "the default user (<default>)")
	cmd.Flags().StringVar(&e.clientID, "client-id", "", "the client id")
	cmd.Flags().BoolVar(&e.clientIDDefault, "client-id-default", false, "the default client id (<default>)")
}

func (e *quotaEntityFlags) check() error {
	if e.user != "" && e.userDefault {
		return errors.New("--user and --user-default exclude each other")
	}
	if e.clientID != "" && e.clientIDDefault {
		return errors.New("--client-id and --client-id-default exclude each other")
	}
	return nil
}

func (e *quotaEntityFlags) entity() ([]*adminv1.ClientQuotaEntityComponent, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	var out []*adminv1.ClientQuotaEntityComponent
	if e.user != "" || e.userDefault {
		out = append(out, &adminv1.ClientQuotaEntityComponent{EntityType: quota.TypeUser, Name: e.user, IsDefault: e.userDefault})
	}
	if e.clientID != "" || e.clientIDDefault {
		out = append(out, &adminv1.ClientQuotaEntityComponent{EntityType: quota.TypeClientID, Name: e.clientID, IsDefault: e.clientIDDefault})
	}
	if len(out) == 0 {
		return nil, errors.New("name an entity: --user, --user-default, --client-id and/or --client-id-default")
	}
	return out, nil
}

func (e *quotaEntityFlags) filter() ([]*adminv1.ClientQuotaFilterComponent, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	var out []*adminv1.ClientQuotaFilterComponent
	add := func(typ, name string, def bool) {
		switch {
		case def:
			out = append(out, &adminv1.ClientQuotaFilterComponent{EntityType: typ, MatchType: adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_DEFAULT})
		case name != "":
			out = append(out, &adminv1.ClientQuotaFilterComponent{EntityType: typ, MatchType: adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_EXACT, Match: &name})
		}
	}
	add(quota.TypeUser, e.user, e.userDefault)
	add(quota.TypeClientID, e.clientID, e.clientIDDefault)
	return out, nil
}

func entityString(cs []*adminv1.ClientQuotaEntityComponent) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		name := c.GetName()
		if c.GetIsDefault() {
			name = quota.DefaultName
		}
		parts[i] = c.GetEntityType() + "=" + name
	}
	return strings.Join(parts, ", ")
}

type quotaComponentJSON struct {
	Type    string `json:"type"`
	Name    string `json:"name"`
	Default bool   `json:"default"`
}

type quotaEntryJSON struct {
	Entity []quotaComponentJSON `json:"entity"`
	Quotas map[string]float64   `json:"quotas"`
}

// parseQuotas turns repeated key=value flags into quota values.
func parseQuotas(kvs []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--quota %q is not key=value", kv)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("--quota %s: %q is not a number", k, v)
		}
		out[k] = f
	}
	return out, nil
}

// alterQuotas sends one alteration and fails with its error.
func alterQuotas(ctx context.Context, c adminv1.AdminServiceClient, req *adminv1.AlterClientQuotasRequest) error {
	resp, err := c.AlterClientQuotas(ctx, req)
	if err != nil {
		return err
	}
	for _, r := range resp.GetResults() {
		if e := r.GetError(); e != nil {
			return fmt.Errorf("%s: %s", entityString(r.GetEntity()), e.GetMessage())
		}
	}
	return nil
}

func newQuotaCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "quota", Short: "List, set and remove client quotas (Kafka's producer_byte_rate, consumer_byte_rate; request_rate)"}
	f.register(cmd)

	var setEntity quotaEntityFlags
	var kvs []string
	var validateOnly bool
	set := &cobra.Command{
		Use:   "set (--user U | --user-default) and/or (--client-id C | --client-id-default) --quota key=value...",
		Short: "Set quotas on an entity (keys: " + strings.Join(quota.Keys(), ", ") + ")",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entity, err := setEntity.entity()
			if err != nil {
				return err
			}
			values, err := parseQuotas(kvs)
			if err != nil {
				return err
			}
			if len(values) == 0 {
				return errors.New("give at least one --quota key=value")
			}
			a := &adminv1.ClientQuotaAlteration{Entity: entity}
			keys := make([]string, 0, len(values))
			for k := range values {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				a.Ops = append(a.Ops, &adminv1.ClientQuotaOp{Key: k, Value: values[k]})
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				if err := alterQuotas(ctx, c, &adminv1.AlterClientQuotasRequest{Alterations: []*adminv1.ClientQuotaAlteration{a}, ValidateOnly: validateOnly}); err != nil {
					return err
				}
				verb := "Set"
				if validateOnly {
					verb = "Valid:"
				}
				fmt.Fprintf(f.out, "%s %s on %s.\n", verb, strings.Join(kvs, " "), entityString(entity))
				return nil
			})
		},
	}
	setEntity.register(set)
	set.Flags().StringArrayVar(&kvs, "quota", nil, "a quota, key=value (bytes or requests per second); repeat for more")
	set.Flags().BoolVar(&validateOnly, "validate-only", false, "check the quotas without setting them")

	var rmEntity quotaEntityFlags
	var rmKeys []string
	remove := &cobra.Command{
		Use:   "remove (--user U | --user-default) and/or (--client-id C | --client-id-default) --key KEY...",
		Short: "Remove quotas from an entity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entity, err := rmEntity.entity()
			if err != nil {
				return err
			}
			if len(rmKeys) == 0 {
				return errors.New("give at least one --key")
			}
			a := &adminv1.ClientQuotaAlteration{Entity: entity}
			for _, k := range rmKeys {
				a.Ops = append(a.Ops, &adminv1.ClientQuotaOp{Key: k, Remove: true})
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				if err := alterQuotas(ctx, c, &adminv1.AlterClientQuotasRequest{Alterations: []*adminv1.ClientQuotaAlteration{a}}); err != nil {
					return err
				}
				fmt.Fprintf(f.out, "Removed %s from %s.\n", strings.Join(rmKeys, ", "), entityString(entity))
				return nil
			})
		},
	}
	rmEntity.register(remove)
	remove.Flags().StringSliceVar(&rmKeys, "key", nil, "a quota key to remove; repeat or comma-separate for more")

	var lsEntity quotaEntityFlags
	var strict bool
	list := &cobra.Command{
		Use:   "list [--user U | --user-default] [--client-id C | --client-id-default] [--strict]",
		Short: "List the entities with quotas (all, or those matching the entity flags)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := lsEntity.filter()
			if err != nil {
				return err
			}
			return f.admin(func(ctx context.Context, c adminv1.AdminServiceClient) error {
				resp, err := c.DescribeClientQuotas(ctx, &adminv1.DescribeClientQuotasRequest{Components: filter, Strict: strict})
				if err != nil {
					return err
				}
				if f.json() {
					out := []quotaEntryJSON{}
					for _, e := range resp.GetEntries() {
						ej := quotaEntryJSON{Entity: []quotaComponentJSON{}, Quotas: map[string]float64{}}
						for _, c := range e.GetEntity() {
							ej.Entity = append(ej.Entity, quotaComponentJSON{Type: c.GetEntityType(), Name: c.GetName(), Default: c.GetIsDefault()})
						}
						for k, v := range e.GetValues() {
							ej.Quotas[k] = v
						}
						out = append(out, ej)
					}
					return printJSON(f.out, out)
				}
				if len(resp.GetEntries()) == 0 {
					fmt.Fprintln(f.out, "No client quotas.")
					return nil
				}
				w := table(f.out)
				fmt.Fprintln(w, "ENTITY\tQUOTAS")
				for _, e := range resp.GetEntries() {
					keys := make([]string, 0, len(e.GetValues()))
					for k := range e.GetValues() {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					vals := make([]string, len(keys))
					for i, k := range keys {
						vals[i] = k + "=" + strconv.FormatFloat(e.GetValues()[k], 'f', -1, 64)
					}
					fmt.Fprintf(w, "%s\t%s\n", entityString(e.GetEntity()), strings.Join(vals, " "))
				}
				return w.Flush()
			})
		},
	}
	lsEntity.register(list)
	list.Flags().BoolVar(&strict, "strict", false, "only entities with exactly the parts named (Kafka's strict match)")

	cmd.AddCommand(list, set, remove)
	return cmd
}
