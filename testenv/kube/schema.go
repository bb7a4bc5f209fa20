package kube

import (
	"encoding/json"
	"fmt"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	kubevirtopenapi "kubevirt.io/client-go/api"
)

// Type names in the OpenAPI definitions that a CRD schema cannot express
// by following their definition: they serialise differently from their Go
// structure, or a CRD may only say "object" about them.
const (
	defObjectMeta   = "k8s.io/apimachinery/pkg/apis/meta/v1.ObjectMeta"
	defQuantity     = "k8s.io/apimachinery/pkg/api/resource.Quantity"
	defIntOrString  = "k8s.io/apimachinery/pkg/util/intstr.IntOrString"
	defTime         = "k8s.io/apimachinery/pkg/apis/meta/v1.Time"
	defMicroTime    = "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime"
	defDuration     = "k8s.io/apimachinery/pkg/apis/meta/v1.Duration"
	defRawExtension = "k8s.io/apimachinery/pkg/runtime.RawExtension"
)

// schemaBuilder turns kube-openapi definitions into the structural
// schemas a CustomResourceDefinition needs: references inlined, every
// node typed, no defaults, and the special apimachinery types written the
// way the API server expects them.
type schemaBuilder struct {
	defs map[string]common.OpenAPIDefinition
}

// newKubeVirtSchemaBuilder reads the OpenAPI definitions that kubevirt
// client-go ships (KubeVirt's core API, CDI's DataVolume and the
// Kubernetes types they embed).
func newKubeVirtSchemaBuilder() *schemaBuilder {
	return &schemaBuilder{defs: kubevirtopenapi.GetOpenAPIDefinitions(func(path string) spec.Ref {
		return spec.MustCreateRef(path)
	})}
}

// topLevel builds the schema of a whole object (kind, apiVersion,
// metadata, spec, status). At the top, a CRD may only declare metadata as
// an object; the API server validates it itself.
func (b *schemaBuilder) topLevel(name string) (*apiextensionsv1.JSONSchemaProps, error) {
	def, ok := b.defs[name]
	if !ok {
		return nil, fmt.Errorf("openapi: no definition of %s", name)
	}
	s, err := b.convert(def.Schema, []string{name})
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", name, err)
	}
	if _, ok := s.Properties["metadata"]; ok {
		s.Properties["metadata"] = apiextensionsv1.JSONSchemaProps{Type: "object"}
	}
	return s, nil
}

// convert turns one schema node into a structural one. stack holds the
// definitions being expanded, to cut recursive types short.
func (b *schemaBuilder) convert(in spec.Schema, stack []string) (*apiextensionsv1.JSONSchemaProps, error) {
	if ref := in.Ref.String(); ref != "" {
		return b.convertRef(ref, in.Description, stack)
	}
	if len(in.AllOf) == 1 && len(in.Properties) == 0 && len(in.Type) == 0 {
		out, err := b.convert(in.AllOf[0], stack)
		if err != nil {
			return nil, err
		}
		if in.Description != "" {
			out.Description = in.Description
		}
		return out, nil
	}
	out := &apiextensionsv1.JSONSchemaProps{Description: in.Description, Format: in.Format}
	switch len(in.Type) {
	case 0:
		if len(in.Properties) > 0 || in.AdditionalProperties != nil {
			out.Type = "object"
		} else {
			// An untyped node (e.g. interface{}): anything goes.
			out.XPreserveUnknownFields = ptrTo(true)
			return out, nil
		}
	case 1:
		out.Type = in.Type[0]
	default:
		return nil, fmt.Errorf("several types %v", in.Type)
	}
	for _, e := range in.Enum {
		raw, err := jsonValue(e)
		if err != nil {
			return nil, fmt.Errorf("enum: %w", err)
		}
		out.Enum = append(out.Enum, raw)
	}
	out.Pattern = in.Pattern
	out.Minimum, out.Maximum = in.Minimum, in.Maximum
	out.MinLength, out.MaxLength = in.MinLength, in.MaxLength
	out.MinItems, out.MaxItems = in.MinItems, in.MaxItems
	if len(in.Properties) > 0 {
		out.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
		for _, k := range sortedKeys(in.Properties) {
			p, err := b.convert(in.Properties[k], stack)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out.Properties[k] = *p
		}
		for _, r := range in.Required {
			if _, ok := in.Properties[r]; ok {
				out.Required = append(out.Required, r)
			}
		}
	}
	if ap := in.AdditionalProperties; ap != nil && len(in.Properties) == 0 {
		if ap.Schema != nil {
			p, err := b.convert(*ap.Schema, stack)
			if err != nil {
				return nil, fmt.Errorf("additionalProperties: %w", err)
			}
			out.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: p}
		} else if ap.Allows {
			out.XPreserveUnknownFields = ptrTo(true)
		}
	}
	if in.Items != nil {
		if in.Items.Schema == nil {
			return nil, fmt.Errorf("items: tuple schemas are not supported")
		}
		p, err := b.convert(*in.Items.Schema, stack)
		if err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		out.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: p}
	}
	if out.Type == "array" && out.Items == nil {
		out.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: ptrTo(true)}}
	}
	b.extensions(in, out)
	return out, nil
}

// convertRef inlines a referenced definition, or writes what a CRD schema
// says about the special apimachinery types.
func (b *schemaBuilder) convertRef(ref, description string, stack []string) (*apiextensionsv1.JSONSchemaProps, error) {
	out := &apiextensionsv1.JSONSchemaProps{Description: description}
	switch ref {
	case defQuantity, defIntOrString:
		out.XIntOrString = true
		out.AnyOf = []apiextensionsv1.JSONSchemaProps{{Type: "integer"}, {Type: "string"}}
		if ref == defQuantity {
			out.Pattern = `^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$`
		}
		return out, nil
	case defTime, defMicroTime:
		out.Type, out.Format = "string", "date-time"
		return out, nil
	case defDuration:
		out.Type = "string"
		return out, nil
	case defObjectMeta, defRawExtension:
		// Embedded metadata (templates) and raw objects: an object the
		// API server keeps as it is, as KubeVirt's own CRDs do.
		out.Type = "object"
		out.XPreserveUnknownFields = ptrTo(true)
		return out, nil
	}
	for _, s := range stack {
		if s == ref {
			out.Type = "object"
			out.XPreserveUnknownFields = ptrTo(true)
			return out, nil
		}
	}
	def, ok := b.defs[ref]
	if !ok {
		return nil, fmt.Errorf("no definition of %s", ref)
	}
	inner, err := b.convert(def.Schema, append(stack, ref))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	if description != "" {
		inner.Description = description
	}
	return inner, nil
}

// extensions copies the x-kubernetes-* extensions a CRD schema supports
// (list and map types); patch strategies have no place in a CRD.
func (b *schemaBuilder) extensions(in spec.Schema, out *apiextensionsv1.JSONSchemaProps) {
	if v, ok := in.Extensions.GetString("x-kubernetes-list-type"); ok && out.Type == "array" {
		out.XListType = ptrTo(v)
		if v == "map" {
			keys, _ := in.Extensions.GetStringSlice("x-kubernetes-list-map-keys")
			out.XListMapKeys = keys
			// Structural schemas need map keys that are required (or
			// defaulted); when the type does not require them the list
			// cannot be a map in a CRD.
			if it := out.Items.Schema; it == nil || !containsAll(it.Required, keys) || len(keys) == 0 {
				out.XListType = ptrTo("atomic")
				out.XListMapKeys = nil
			}
		}
	}
	if v, ok := in.Extensions.GetString("x-kubernetes-map-type"); ok && out.Type == "object" {
		out.XMapType = ptrTo(v)
	}
}

func containsAll(have, want []string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptrTo[T any](v T) *T { return &v }

// jsonValue encodes an enum value for a CRD schema.
func jsonValue(v any) (apiextensionsv1.JSON, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return apiextensionsv1.JSON{}, err
	}
	return apiextensionsv1.JSON{Raw: raw}, nil
}
