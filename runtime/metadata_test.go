package runtime

import (
	"strings"
	"testing"
)

func TestMetadataRoundTrip(t *testing.T) {
	m := podMeta{Name: "web01", Image: "docker://r/x:v1", Accel: "tcg", Reason: "<why> & how", Started: "2026-01-01T00:00:00Z", State: "/var/lib/podvm-migrate"}
	md, err := m.metadata()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(md.XML, `<pod xmlns="`+MetadataNS+`">`) {
		t.Errorf("element not in MetadataNS: %s", md.XML)
	}
	got, err := parseMeta(md.XML)
	if err != nil {
		t.Fatal(err)
	}
	got.XMLName = m.XMLName
	if got != m {
		t.Errorf("got %+v, want %+v", got, m)
	}
	// What virDomainGetMetadata returns: libvirt 9 drops the declaration of
	// a default namespace; domains started before keep a prefix.
	for _, x := range []string{
		`<pod><name>web01</name><accel>kvm</accel></pod>`,
		`<podvm:pod xmlns:podvm="` + MetadataNS + `"><podvm:name>web01</podvm:name><podvm:accel>kvm</podvm:accel></podvm:pod>`,
	} {
		if got, err := parseMeta(x); err != nil || got.Name != "web01" || got.Accel != "kvm" {
			t.Errorf("%s: %+v, %v", x, got, err)
		}
	}
	if _, err := parseMeta(`<other><name>web01</name></other>`); err == nil {
		t.Error("another element was taken for ours")
	}
}
