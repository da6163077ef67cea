package ebpftest

import (
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// The server reads a connection to its end and then closes its side: a
// client that half-closes sees EOF, so its close is graceful.
func TestDiscardServerReadsAndCloses(t *testing.T) {
	srv, err := NewDiscardServer()
	require.NoError(t, err)
	defer srv.Close()
	c, err := net.Dial("tcp4", srv.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(make([]byte, 64<<10))
	require.NoError(t, err)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	n, err := io.Copy(io.Discard, c)
	require.NoError(t, err, "the server closes after reading everything")
	require.Zero(t, n, "the server sends nothing")

	require.NoError(t, srv.Close())
	_, err = net.Dial("tcp4", srv.Addr())
	require.Error(t, err, "a closed server accepts nothing")
}
