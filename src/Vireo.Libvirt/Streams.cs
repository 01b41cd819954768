using System.Threading.Channels;

namespace Vireo.Libvirt;

/// <summary>What the client sent on a stream: data, a finish (status OK) or an abort (status ERROR).</summary>
internal enum StreamPacketKind { Data, Finish, Abort }

internal readonly record struct StreamPacket(StreamPacketKind Kind, ReadOnlyMemory<byte> Data);

/// <summary>
/// One stream of a connection, as libvirt's daemon runs them (remote_daemon_stream.c): STREAM
/// packets carry the procedure and serial of the call that opened it. Data goes out as status
/// CONTINUE, at most 256 KiB a packet (VIR_NET_MESSAGE_LEGACY_PAYLOAD_MAX), the next one only when
/// the last is on the wire; an empty CONTINUE is the end of the data; the client's finish (OK) or
/// abort (ERROR) is confirmed by an empty OK; a failure is a STREAM packet with status ERROR and a
/// remote_error. Data the client sends waits in a short queue: when it is full, the connection stops
/// reading, so a fast client cannot grow the daemon without bound.
/// </summary>
internal sealed class RemoteStream
{
    public const int ChunkMax = 256 * 1024;

    private readonly Channel<StreamPacket> _in = Channel.CreateBounded<StreamPacket>(new BoundedChannelOptions(8) { SingleReader = true, SingleWriter = true });
    private readonly Func<Header, ReadOnlyMemory<byte>, CancellationToken, Task> _send;
    private readonly CancellationTokenSource _aborted;

    public RemoteStream(Header call, Func<Header, ReadOnlyMemory<byte>, CancellationToken, Task> send, CancellationToken connection)
    {
        Call = call;
        _send = send;
        _aborted = CancellationTokenSource.CreateLinkedTokenSource(connection);
    }

    public Header Call { get; }

    /// <summary>Cancelled when the client aborts the stream or the connection ends.</summary>
    public CancellationToken Token => _aborted.Token;

    /// <summary>Whether the stream takes data from the client (uploads, consoles); other streams drop what comes.</summary>
    public bool TakesData { get; init; }

    public ChannelReader<StreamPacket> Incoming => _in.Reader;

    /// <summary>From the connection's read loop: waits while the queue is full (that is the flow control).</summary>
    public async ValueTask PushAsync(StreamPacket p, CancellationToken ct)
    {
        if (p.Kind == StreamPacketKind.Data && !TakesData) return;
        try { await _in.Writer.WriteAsync(p, ct); }
        catch (ChannelClosedException) { return; }
        if (p.Kind == StreamPacketKind.Abort) _aborted.Cancel();
    }

    /// <summary>The connection ended or the stream is over: whatever waits on it stops.</summary>
    public void Close()
    {
        _in.Writer.TryComplete();
        try { _aborted.Cancel(); } catch (ObjectDisposedException) { }
    }

    private Header Packet(MessageStatus status) => Call with { Type = MessageType.Stream, Status = status };

    public async Task SendDataAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        for (var off = 0; off < data.Length; off += ChunkMax)
            await _send(Packet(MessageStatus.Continue), data.Slice(off, Math.Min(ChunkMax, data.Length - off)), ct);
    }

    /// <summary>No more data from this side: an empty CONTINUE, as libvirtd sends at the end of a file or a console's hangup.</summary>
    public Task SendEndAsync(CancellationToken ct) => _send(Packet(MessageStatus.Continue), ReadOnlyMemory<byte>.Empty, ct);

    /// <summary>The confirmation of the client's finish or abort.</summary>
    public Task ConfirmAsync(CancellationToken ct) => _send(Packet(MessageStatus.Ok), ReadOnlyMemory<byte>.Empty, ct);

    public Task SendErrorAsync(RpcError e, CancellationToken ct)
    {
        var w = new XdrWriter();
        e.Write(w);
        return _send(Packet(MessageStatus.Error), w.Memory, ct);
    }

    /// <summary>After this side's data ends: waits for the client's finish or abort and confirms it.</summary>
    public async Task AwaitEndAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var p in _in.Reader.ReadAllAsync(ct))
                if (p.Kind != StreamPacketKind.Data)
                {
                    await ConfirmAsync(ct);
                    return;
                }
        }
        catch (OperationCanceledException) { }
    }
}

/// <summary>A call that opens a stream returns the work to run on it once the call's reply is out.</summary>
internal sealed record StreamWork(bool TakesData, Func<RemoteStream, CancellationToken, Task> Run);
