using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Vireo.Engine;
using Vireo.Host;

namespace Vireo.Libvirt;

/// <summary>
/// libvirt's remote protocol on a unix socket, so virsh, virt-install, virt-manager and
/// python-libvirt drive Vireo's engine unchanged (qemu+unix:///system?socket=PATH, or
/// libvirt's own socket paths). Calls run concurrently and are answered as they finish, in
/// any order, as libvirtd does; keepalive pings are answered at once.
/// </summary>
public sealed class RemoteServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Hypervisor _hv;
    private readonly bool _readOnly;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;
    private readonly List<Socket> _clients = [];

    public string Path { get; }

    private readonly int? _group;

    private RemoteServer(Socket listener, string path, Hypervisor hv, bool readOnly, ILogger log, int? group)
    {
        _group = group;
        _listener = listener;
        Path = path;
        _hv = hv;
        _readOnly = readOnly;
        _log = log;
        _accept = AcceptLoopAsync();
    }

    /// <summary>
    /// Listens on <paramref name="path"/>: a read-write socket is the owner's and <paramref name="group"/>'s
    /// (0660; 0600 with no group), a read-only one anyone's (0666), as libvirt's unix_sock_group and perms.
    /// </summary>
    public static RemoteServer Start(Hypervisor hv, string path, bool readOnly, ILogger log, int? group = null)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        if (File.Exists(path)) File.Delete(path);
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            s.Bind(new UnixDomainSocketEndPoint(path));
            if (readOnly) FileAccessRules.Everyone(path);
            else FileAccessRules.OwnerAndGroup(path, group);
            s.Listen(64);
        }
        catch
        {
            s.Dispose();
            throw;
        }
        return new RemoteServer(s, path, hv, readOnly, log, readOnly ? null : group);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket c;
            try { c = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { break; }
            if (!Admitted(c))
            {
                c.Dispose();
                continue;
            }
            lock (_clients) _clients.Add(c);
            _ = Task.Run(async () =>
            {
                try { await new RemoteConnection(c, _hv, _readOnly, _log).RunAsync(_stop.Token); }
                finally
                {
                    lock (_clients) _clients.Remove(c);
                    c.Dispose();
                }
            });
        }
    }

    /// <summary>
    /// The read-write socket serves root, the daemon's own user and members of its group only, whoever the socket's
    /// permissions let in (a umask, a chmod): the kernel's word for the peer (SO_PEERCRED) decides,
    /// as libvirtd's unix socket policy does. The read-only socket serves anyone.
    /// </summary>
    private bool Admitted(Socket c)
    {
        PeerCredentials peer;
        try { peer = PeerCredentials.Of(c); }
        catch (SocketException e)
        {
            _log.LogWarning("libvirt client on {Path}: no peer credentials ({Error}); closing the connection", Path, e.Message);
            return false;
        }
        if (_readOnly || peer.Uid == 0 || peer.Uid == PeerCredentials.EffectiveUid || _group is { } g && peer.InGroup(g)) return true;
        _log.LogWarning("libvirt client pid {Pid} uid {Uid} refused on the read-write socket {Path}: only root and the socket's group may change things (use the read-only socket)", peer.Pid, peer.Uid, Path);
        return false;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        lock (_clients) foreach (var c in _clients) c.Dispose();
        await _accept;
        try { File.Delete(Path); } catch (IOException) { }
    }
}

/// <summary>One client: reads packets, runs each call on its own, writes replies one whole packet at a time.</summary>
internal sealed class RemoteConnection(Socket socket, Hypervisor hv, bool readOnly, ILogger log)
{
    private readonly SemaphoreSlim _write = new(1, 1);
    private readonly RemoteCalls _calls = new(hv, readOnly);
    private readonly ConcurrentDictionary<uint, RemoteStream> _streams = new();

    public async Task RunAsync(CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _calls.EventsWanted = () => _ = PushEventsAsync(stop.Token);
        try { await ReadLoopAsync(stop.Token); }
        finally
        {
            stop.Cancel();
            foreach (var s in _streams.Values) s.Close();
        }
    }

    /// <summary>Engine events the client registered for, as MESSAGE packets (serial 0), until the connection ends.</summary>
    private async Task PushEventsAsync(CancellationToken ct)
    {
        using var sub = hv.Events.Subscribe();
        try
        {
            await foreach (var e in sub.Reader.ReadAllAsync(ct))
                foreach (var m in _calls.EventMessages(e))
                    await SendAsync(new Header(Rpc.RemoteProgram, Rpc.RemoteVersion, (int)m.Proc, MessageType.Message, 0, MessageStatus.Ok), m.Body.Memory, ct);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException) { }
    }

    private async Task ReadLoopAsync(CancellationToken ct)
    {
        var len = new byte[4];
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (!await ReadExactlyAsync(len, ct)) return;
                var total = BinaryPrimitives.ReadInt32BigEndian(len);
                if (total < 4 + Rpc.HeaderSize || total > Rpc.MessageMax)
                {
                    log.LogWarning("libvirt client sent a packet of {Length} bytes; closing the connection", total);
                    return;
                }
                var body = new byte[total - 4];
                if (!await ReadExactlyAsync(body, ct)) return;
                var r = new XdrReader(body);
                var h = Header.Read(r);
                var payload = body.AsMemory(Rpc.HeaderSize);
                if (h.Program == Rpc.KeepaliveProgram)
                {
                    if (h.Procedure == Rpc.KeepalivePing)
                        await SendAsync(new Header(Rpc.KeepaliveProgram, Rpc.KeepaliveVersion, Rpc.KeepalivePong, MessageType.Message, 0, MessageStatus.Ok), ReadOnlyMemory<byte>.Empty, ct);
                    continue;
                }
                if (h.Type is MessageType.Stream or MessageType.StreamHole)
                {
                    // A stream's packets: in order, to the stream its call opened; packets of a stream
                    // that has ended are dropped, as libvirtd's filters do.
                    if (_streams.TryGetValue(h.Serial, out var st) && st.Call.Procedure == h.Procedure && st.Call.Program == h.Program)
                    {
                        if (h.Type == MessageType.StreamHole)
                            log.LogWarning("libvirt client sent a stream hole on a stream that is not sparse; aborting the stream");
                        await st.PushAsync(h.Type == MessageType.StreamHole ? new StreamPacket(StreamPacketKind.Abort, default)
                            : h.Status switch
                            {
                                MessageStatus.Continue => new StreamPacket(StreamPacketKind.Data, payload),
                                MessageStatus.Ok => new StreamPacket(StreamPacketKind.Finish, default),
                                _ => new StreamPacket(StreamPacketKind.Abort, default),
                            }, ct);
                    }
                    continue;
                }
                if (h.Type != MessageType.Call) continue;
                if (h.Program == Rpc.QemuProgram && h.Version == Rpc.RemoteVersion)
                {
                    _ = Task.Run(() => DispatchAsync(h, payload, ct), ct);
                    continue;
                }
                if (h.Program != Rpc.RemoteProgram || h.Version != Rpc.RemoteVersion)
                {
                    await ReplyErrorAsync(h, new RpcError(VirErrorCode.Rpc, $"program 0x{h.Program:x} version {h.Version} is not served here (Vireo serves libvirt's remote program 0x{Rpc.RemoteProgram:x} version 1)", VirErrorDomain.Rpc), ct);
                    continue;
                }
                if (h.Procedure == (int)Proc.ConnectClose)
                {
                    await ReplyAsync(h, new XdrWriter(), ct);
                    return;
                }
                // Each call on its own: a slow start does not hold up a list; replies go out as they are ready.
                _ = Task.Run(() => DispatchAsync(h, payload, ct), ct);
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException or XdrException) { }
    }

    private async Task DispatchAsync(Header h, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        try
        {
            var w = new XdrWriter();
            StreamWork? work = null;
            if (h.Program == Rpc.QemuProgram) await _calls.QemuCallAsync(h.Procedure, new XdrReader(payload), w, ct);
            else work = await _calls.CallAsync((Proc)h.Procedure, new XdrReader(payload), w, ct);
            if (work is null)
            {
                await ReplyAsync(h, w, ct);
                return;
            }
            // The stream exists before the reply goes out: the client may send on it at once.
            var s = new RemoteStream(h, SendAsync, ct) { TakesData = work.TakesData };
            _streams[h.Serial] = s;
            try
            {
                await ReplyAsync(h, w, ct);
                await RunStreamAsync(work, s, ct);
            }
            finally
            {
                _streams.TryRemove(h.Serial, out _);
                s.Close();
            }
        }
        catch (RpcError e) { await ReplyErrorAsync(h, e, ct); }
        catch (XdrException e) { await ReplyErrorAsync(h, new RpcError(VirErrorCode.Rpc, $"cannot decode the arguments of procedure {h.Procedure}: {e.Message}", VirErrorDomain.Rpc), ct); }
        catch (VireoException e) { await ReplyErrorAsync(h, RemoteCalls.ToRpc(e), ct); }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException) { }
        catch (Exception e) when (Failures.Classify(e) is { } known) { await ReplyErrorAsync(h, RemoteCalls.ToRpc(known), ct); }
        catch (Exception e)
        {
            log.LogError(e, "libvirt procedure {Procedure} failed", h.Procedure);
            await ReplyErrorAsync(h, new RpcError(VirErrorCode.InternalError, $"internal error: {e.Message}"), ct);
        }
    }

    private async Task RunStreamAsync(StreamWork work, RemoteStream s, CancellationToken ct)
    {
        try { await work.Run(s, ct); }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException) { }
        catch (Exception e)
        {
            log.LogError(e, "libvirt stream of procedure {Procedure} failed", s.Call.Procedure);
            try { await s.SendErrorAsync(new RpcError(VirErrorCode.InternalError, $"internal error: {e.Message}"), ct); }
            catch (Exception x) when (x is SocketException or IOException or ObjectDisposedException or OperationCanceledException) { }
        }
    }

    private Task ReplyAsync(Header call, XdrWriter payload, CancellationToken ct) =>
        SendAsync(call with { Type = MessageType.Reply, Status = MessageStatus.Ok }, payload.Memory, ct);

    private async Task ReplyErrorAsync(Header call, RpcError e, CancellationToken ct)
    {
        var w = new XdrWriter();
        e.Write(w);
        try { await SendAsync(call with { Type = MessageType.Reply, Status = MessageStatus.Error }, w.Memory, ct); }
        catch (Exception x) when (x is SocketException or IOException or ObjectDisposedException or OperationCanceledException) { }
    }

    private async Task SendAsync(Header h, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        var w = new XdrWriter();
        w.UInt(0); // the length, filled in below
        h.Write(w);
        var packet = new byte[w.Length + payload.Length];
        w.Span.CopyTo(packet);
        payload.Span.CopyTo(packet.AsSpan(w.Length));
        BinaryPrimitives.WriteInt32BigEndian(packet, packet.Length);
        await _write.WaitAsync(ct);
        try { await socket.SendAsync(packet, SocketFlags.None, ct); }
        finally { _write.Release(); }
    }

    private async Task<bool> ReadExactlyAsync(byte[] buf, CancellationToken ct)
    {
        var got = 0;
        while (got < buf.Length)
        {
            var n = await socket.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, ct);
            if (n == 0) return false;
            got += n;
        }
        return true;
    }
}
