package femtoclaw

import (
	_ "github.com/dgraph-io/ristretto/v2"
	_ "github.com/klauspost/compress/s2"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/panjf2000/ants/v2"
	_ "github.com/puzpuzpuz/xsync/v4"
	_ "github.com/quic-go/quic-go/http3"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sys/unix"
)
