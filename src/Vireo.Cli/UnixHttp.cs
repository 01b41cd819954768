using System.Buffers;
using System.Globalization;
using Vireo.Host;
using System.Text;

namespace Vireo.Cli;

/// <summary>An HTTP/1.1 response: status, headers, and a body stream (de-chunked).</summary>
public sealed class HttpReply(int status, string reason, Dictionary<string, string> headers, Stream body, Stream connection) : IDisposable
{
    public int Status { get; } = status;
    public string ReasonPhrase { get; } = reason;
    public IReadOnlyDictionary<string, string> Headers { get; } = headers;
    public Stream Body { get; } = body;
    public bool Ok => Status is >= 200 and < 300;

    public Task<string> ReadStringAsync(CancellationToken ct)
    {
        using var r = new StreamReader(Body, Encoding.UTF8, false, 4096, leaveOpen: true);
        return Task.FromResult(r.ReadToEnd());
    }

    public void Dispose()
    {
        Body.Dispose();
        connection.Dispose();
    }
}

/// <summary>
/// A minimal HTTP/1.1 client over a unix socket: one request per connection.
/// </summary>
/// <remarks>
/// Written by hand for start-up time: the CLI makes one request per process, and HttpClient's
/// first request costs ~70 ms of JIT and setup here (measured), more than the whole budget of a
/// virsh-style command (target: list in 50 ms). Only what the daemon's API needs: Content-Length request bodies,
/// Content-Length or chunked responses. The console's WebSocket still uses ClientWebSocket.
/// </remarks>
internal static class UnixHttp
{
    public static Task<HttpReply> SendAsync(DaemonEndpoint socketPath, string method, string path, byte[]? body, string? contentType, CancellationToken ct) =>
        Task.FromResult(Send(socketPath, method, path, body is null ? null : (body.Length, s => s.Write(body)), contentType, ct));

    /// <summary>A request whose body is streamed from <paramref name="source"/> (vol-upload); progress gets the bytes sent so far.</summary>
    public static Task<HttpReply> SendStreamAsync(DaemonEndpoint socketPath, string method, string path, Stream source, long length, Action<long>? progress, CancellationToken ct) =>
        Task.FromResult(Send(socketPath, method, path, (length, s =>
        {
            var buf = new byte[1 << 20];
            long sent = 0;
            while (sent < length)
            {
                ct.ThrowIfCancellationRequested();
                var n = source.Read(buf, 0, (int)Math.Min(buf.Length, length - sent));
                if (n == 0) throw new CliException($"the input ended after {sent} of {length} bytes.");
                s.Write(buf.AsSpan(0, n));
                sent += n;
                progress?.Invoke(sent);
            }
        }), "application/octet-stream", ct));

    // Synchronous inside: one request per process needs no async machinery, whose generic
    // instantiations would be JIT compiled at every CLI start.
    private static HttpReply Send(DaemonEndpoint socketPath, string method, string path, (long Length, Action<Stream> Write)? body, string? contentType, CancellationToken ct)
    {
        var stream = socketPath.Connect();
        var sb = new StringBuilder();
        sb.Append(method).Append(' ').Append(path.StartsWith('/') ? path : "/" + path).Append(" HTTP/1.1\r\nHost: vireo\r\nConnection: close\r\n");
        if (body is not null)
        {
            sb.Append("Content-Type: ").Append(contentType ?? "application/octet-stream").Append("\r\n");
            sb.Append("Content-Length: ").Append(body.Value.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        else if (method is "POST" or "PUT")
        {
            sb.Append("Content-Length: 0\r\n");
        }
        sb.Append("\r\n");
        stream.Write(Encoding.ASCII.GetBytes(sb.ToString()));
        try { body?.Write(stream); }
        catch (IOException) { } // the daemon refused before reading the whole body: its answer follows

        var reader = new BufferedReader(stream, ct);
        string? statusLine, why = null;
        try { statusLine = reader.ReadLine(); }
        catch (IOException e) when (socketPath.Host is not null) { statusLine = null; why = $" ({e.Message})"; }
        // Under TLS 1.3 a daemon that refuses the client's certificate says so after the handshake: here.
        if (statusLine is null)
            throw new CliException(socketPath.Host is not null
                ? $"the daemon at {socketPath} refused the TLS handshake{why}: it admits only clients whose certificate its CA signed; use that CA's clientcert.pem and clientkey.pem (--tls-dir {socketPath.TlsDir})."
                : $"the daemon at {socketPath} closed the connection without answering.");
        var parts = statusLine.Split(' ', 3);
        if (parts.Length < 2 || !int.TryParse(parts[1], out var status))
            throw new CliException($"the daemon at {socketPath} answered something that is not HTTP: '{statusLine}'.");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        while (reader.ReadLine() is { Length: > 0 } line)
        {
            var colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        Stream bodyStream = headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase)
            ? new ChunkedStream(reader)
            : headers.TryGetValue("Content-Length", out var cl) && long.TryParse(cl, out var len)
                ? new LengthStream(reader, len)
                : new LengthStream(reader, long.MaxValue);
        return new HttpReply(status, parts.Length > 2 ? parts[2] : "", headers, bodyStream, stream);
    }

    /// <summary>
    /// Buffered reads with line access, shared by the header parser and body streams. A read
    /// ends on the request's token, or on the token given to that read (a caller's own timeout,
    /// e.g. install --wait).
    /// </summary>
    internal sealed class BufferedReader(Stream inner, CancellationToken requestCt)
    {
        private readonly byte[] _buf = new byte[16384];
        private int _pos, _len;

        private bool Fill(CancellationToken ct)
        {
            if (_pos < _len) return true;
            _pos = 0;
            if (ct.CanBeCanceled && requestCt.CanBeCanceled && ct != requestCt)
            {
                using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, requestCt);
                _len = ReadFrom(both.Token);
            }
            else _len = ReadFrom(ct.CanBeCanceled ? ct : requestCt);
            return _len > 0;
        }

        // The unix socket's stream reads with a token of its own; a TLS stream through its async read.
        private int ReadFrom(CancellationToken ct) => inner is FdStream fd
            ? fd.Read(_buf, ct)
            : ct.CanBeCanceled ? inner.ReadAsync(_buf, 0, _buf.Length, ct).GetAwaiter().GetResult() : inner.Read(_buf, 0, _buf.Length);

        public string? ReadLine(CancellationToken ct = default)
        {
            var sb = new StringBuilder();
            while (Fill(ct))
            {
                var idx = Array.IndexOf(_buf, (byte)'\n', _pos, _len - _pos);
                if (idx < 0)
                {
                    sb.Append(Encoding.UTF8.GetString(_buf, _pos, _len - _pos));
                    _pos = _len;
                    continue;
                }
                sb.Append(Encoding.UTF8.GetString(_buf, _pos, idx - _pos));
                _pos = idx + 1;
                if (sb.Length > 0 && sb[^1] == '\r') sb.Length--;
                return sb.ToString();
            }
            return sb.Length > 0 ? sb.ToString() : null;
        }

        public int Read(Span<byte> dest, CancellationToken ct = default)
        {
            if (!Fill(ct)) return 0;
            var n = Math.Min(dest.Length, _len - _pos);
            _buf.AsSpan(_pos, n).CopyTo(dest);
            _pos += n;
            return n;
        }
    }

    private abstract class ReadOnlyBody : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count), default);
        public override int Read(Span<byte> buffer) => Read(buffer, default);
        protected abstract int Read(Span<byte> buffer, CancellationToken ct);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span, ct));
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer.AsSpan(offset, count), ct));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class LengthStream(BufferedReader r, long length) : ReadOnlyBody
    {
        private long _left = length;

        protected override int Read(Span<byte> buffer, CancellationToken ct)
        {
            if (_left <= 0) return 0;
            var n = r.Read(buffer[..(int)Math.Min(buffer.Length, _left)], ct);
            _left -= n;
            return n;
        }
    }

    private sealed class ChunkedStream(BufferedReader r) : ReadOnlyBody
    {
        private long _chunkLeft;
        private bool _done;

        protected override int Read(Span<byte> buffer, CancellationToken ct)
        {
            while (!_done)
            {
                if (_chunkLeft > 0)
                {
                    var n = r.Read(buffer[..(int)Math.Min(buffer.Length, _chunkLeft)], ct);
                    if (n == 0) { _done = true; return 0; }
                    _chunkLeft -= n;
                    if (_chunkLeft == 0) r.ReadLine(ct); // CRLF after the chunk
                    return n;
                }
                var sizeLine = r.ReadLine(ct);
                if (sizeLine is null) { _done = true; break; }
                var semi = sizeLine.IndexOf(';');
                if (!long.TryParse(semi >= 0 ? sizeLine[..semi] : sizeLine, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out _chunkLeft))
                    throw new IOException($"Bad chunk size '{sizeLine}' from the daemon.");
                if (_chunkLeft == 0) { _done = true; r.ReadLine(ct); }
            }
            return 0;
        }
    }
}
