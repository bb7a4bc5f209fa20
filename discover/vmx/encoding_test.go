package vmx

import (
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

func TestEncodingAliases(t *testing.T) {
	cases := []struct {
		label string
		want  encoding.Encoding // nil: UTF-8
	}{
		{"windows-949-2000", korean.EUCKR}, {"cp949", korean.EUCKR}, {"x-windows-949", korean.EUCKR}, {"MS949", korean.EUCKR},
		{"EUC-KR", korean.EUCKR}, {"windows-932-2000", japanese.ShiftJIS}, {"Shift_JIS", japanese.ShiftJIS}, {"SJIS", japanese.ShiftJIS},
		{"ibm-943_P15A-2003", japanese.ShiftJIS}, {"windows-936-2000", simplifiedchinese.GBK}, {"GBK", simplifiedchinese.GBK},
		{"gb18030", simplifiedchinese.GB18030}, {"big5", traditionalchinese.Big5}, {"x-windows-950", traditionalchinese.Big5},
		{"windows-950-2000", traditionalchinese.Big5}, {"windows-1252", charmap.Windows1252}, {"cp1252", charmap.Windows1252},
		{"ibm-5348_P100-1997", charmap.Windows1252}, {"windows-1251-2000", charmap.Windows1251}, {"ISO-8859-1", charmap.ISO8859_1},
		{"UTF-8", nil}, {"utf8", nil}, {"US-ASCII", nil}, {"euc-jp", japanese.EUCJP},
	}
	for _, c := range cases {
		got, ok := lookupEncoding(c.label)
		if !ok || got != c.want {
			t.Errorf("lookupEncoding(%q) = %v, %v; want %v", c.label, got, ok, c.want)
		}
	}
	for _, bad := range []string{"klingon", "windows-99999", "", "x-"} {
		if _, ok := lookupEncoding(bad); ok {
			t.Errorf("lookupEncoding(%q) accepted", bad)
		}
	}
}

func TestDecodeFallbacks(t *testing.T) {
	cases := []struct {
		name, label, data, want string
		warns                   int
	}{
		{"unknown label, UTF-8 bytes", "klingon", "café", "café", 1},
		{"unknown label, Latin-1 bytes", "klingon", "caf\xe9", "café", 1},
		{"no label, Latin-1 bytes", "", "caf\xe9", "café", 0},
		{"ASCII under a CJK label", "windows-949-2000", "plain", "plain", 0},
	}
	for _, c := range cases {
		got, warns := decode(c.label, []byte(c.data))
		if got != c.want || len(warns) != c.warns {
			t.Errorf("%s: %q %q, want %q and %d warnings", c.name, got, warns, c.want, c.warns)
		}
	}
}
