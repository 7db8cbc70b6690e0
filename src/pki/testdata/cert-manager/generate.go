//go:build ignore

// Writes the keystores in this directory with the libraries cert-manager uses, called the way
// cert-manager's issuing controller calls them (pkg/controller/certificates/issuing/internal),
// so that the TypeScript tests can check that we read cert-manager's files as current.
//
// Regenerate with (outside the repository's module-less tree):
//
//	go mod init fixtures && go get software.sslmate.com/src/go-pkcs12@v0.7.4 \
//	    github.com/pavlo-v-chernykh/keystore-go/v4@v4.5.0 && go run generate.go
package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"time"

	jks "github.com/pavlo-v-chernykh/keystore-go/v4"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

const password = "changeit"

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func certs(path string) []*x509.Certificate {
	rest := must(os.ReadFile(path))
	var out []*x509.Certificate
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return out
		}
		out = append(out, must(x509.ParseCertificate(block.Bytes)))
	}
}

func privateKey(path string) any {
	block, _ := pem.Decode(must(os.ReadFile(path)))
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k
	}
	return must(x509.ParseECPrivateKey(block.Bytes))
}

func store(ks jks.KeyStore) []byte {
	var buf bytes.Buffer
	if err := ks.Store(&buf, []byte(password)); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func main() {
	ca := certs("ca.pem")
	encoders := map[string]*pkcs12.Encoder{
		"LegacyRC2": pkcs12.LegacyRC2, "LegacyDES": pkcs12.LegacyDES, "Modern2023": pkcs12.Modern2023,
	}
	for profile, enc := range encoders {
		os.WriteFile("truststore-"+profile+".p12", must(enc.EncodeTrustStore(ca, password)), 0o644)
	}
	for _, name := range []string{"ecdsa", "rsa"} {
		key := privateKey(name + "-key.pem")
		chain := certs(name + "-chain.pem")
		// The leaf, then the rest of tls.crt, then ca.crt.
		cas := append(append([]*x509.Certificate{}, chain[1:]...), ca...)
		for profile, enc := range encoders {
			os.WriteFile(name+"-keystore-"+profile+".p12", must(enc.Encode(key, chain[0], cas, password)), 0o644)
		}
		ks := jks.New()
		var entryChain []jks.Certificate
		for _, c := range chain {
			entryChain = append(entryChain, jks.Certificate{Type: "X509", Content: c.Raw})
		}
		entry := jks.PrivateKeyEntry{CreationTime: time.Now(), PrivateKey: must(x509.MarshalPKCS8PrivateKey(key)), CertificateChain: entryChain}
		if err := ks.SetPrivateKeyEntry("certificate", entry, []byte(password)); err != nil {
			panic(err)
		}
		trusted := jks.TrustedCertificateEntry{CreationTime: time.Now(), Certificate: jks.Certificate{Type: "X509", Content: ca[0].Raw}}
		if err := ks.SetTrustedCertificateEntry("ca", trusted); err != nil {
			panic(err)
		}
		os.WriteFile(name+"-keystore.jks", store(ks), 0o644)
	}
	ts := jks.New()
	trusted := jks.TrustedCertificateEntry{CreationTime: time.Now(), Certificate: jks.Certificate{Type: "X509", Content: ca[0].Raw}}
	if err := ts.SetTrustedCertificateEntry("ca", trusted); err != nil {
		panic(err)
	}
	os.WriteFile("truststore.jks", store(ts), 0o644)
}
