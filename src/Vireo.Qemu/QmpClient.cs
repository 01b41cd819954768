using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Vireo.Qemu;

/// <summary>An asynchronous QMP event: name, data and QEMU's timestamp.</summary>
public sealed record QmpEvent(string Name, JsonObject? Data, DateTimeOffset Timestamp);

/// <summary>QEMU answered a command with an error.</summary>
public sealed class QmpErrorException(string command, string errorClass, string description)
    : Exception($"QEMU rejected '{command}': {description}")
{
    public string ErrorClass { get; } = errorClass;
    public string Description { get; } = description;
}

/// <summary>The monitor connection is gone (QEMU exited or closed it); every later call fails at once.</summary>
public sealed class QmpDisconnectedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A QMP client: capabilities negotiation, id-correlated replies, events on a channel.
/// </summary>
/// <remarks>
/// Written by hand: there is no maintained .NET QMP library. Shaped after Tmds.Ssh and Incus:
/// one reader loop sorts replies (by id) from events; its finally fails every pending call;
/// events go to an unbounded channel so the reader never waits for a consumer and never
/// calls back into the monitor.
/// </remarks>
public sealed class QmpClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly ConcurrentDictionary<long, (string Command, TaskCompletionSource<JsonNode?> Reply)> _pending = new();
    private readonly Channel<QmpEvent> _events = Channel.CreateUnbounded<QmpEvent>(new() { SingleReader = true });
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly string _label;
    private long _nextId;
    private Task? _reader;
    private Exception? _closed;

    public JsonObject? Greeting { get; private set; }
    public ChannelReader<QmpEvent> Events => _events.Reader;
    /// <summary>Completes when the connection ends, for whatever reason.</summary>
    public Task Completion => _reader ?? Task.CompletedTask;
    public static TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(30);

    private QmpClient(Socket socket, string label)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _label = label;
    }

    /// <summary>Connects to a QMP unix socket and negotiates capabilities.</summary>
    /// <param name="timeout">How long QEMU may take to greet and to accept capabilities (default <see cref="DefaultTimeout"/>).</param>
    public static async Task<QmpClient> ConnectAsync(string socketPath, string label, CancellationToken ct = default, TimeSpan? timeout = null)
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
        }
        catch (Exception e)
        {
            s.Dispose();
            throw new QmpDisconnectedException($"Cannot reach the QEMU monitor of '{label}' at {socketPath}: {e.Message}", e);
        }
        var c = new QmpClient(s, label);
        try
        {
            await c.HandshakeAsync(timeout ?? DefaultTimeout, ct);
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
        return c;
    }

    private async Task HandshakeAsync(TimeSpan timeout, CancellationToken ct)
    {
        var greetingReady = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _reader = Task.Run(() => ReadLoopAsync(greetingReady));
        using var reg = ct.Register(() => greetingReady.TrySetCanceled(ct));
        try { Greeting = await greetingReady.Task.WaitAsync(timeout, ct); }
        catch (TimeoutException) { throw new TimeoutException($"The QEMU monitor of '{_label}' accepted a connection but sent no greeting within {timeout.TotalSeconds:0.#} s (QEMU is stopped or hung)."); }
        await ExecuteAsync("qmp_capabilities", null, timeout, ct);
    }

    public Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments = null, CancellationToken ct = default) =>
        ExecuteAsync(command, arguments, DefaultTimeout, ct);

    public Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, TimeSpan timeout, CancellationToken ct) =>
        ExecuteAsync(command, arguments, timeout, -1, ct);

    /// <summary>Sends a command with a file descriptor attached (getfd, add-fd): QEMU takes its own copy.</summary>
    public Task<JsonNode?> ExecuteWithFdAsync(string command, JsonObject? arguments, int fd, CancellationToken ct = default) =>
        ExecuteAsync(command, arguments, DefaultTimeout, fd, ct);

    private async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, TimeSpan timeout, int fd, CancellationToken ct)
    {
        if (_closed is { } closed) throw new QmpDisconnectedException(closed.Message, closed);
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonNode?>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = (command, tcs);
        var msg = new JsonObject { ["execute"] = command, ["id"] = id };
        if (arguments is not null) msg["arguments"] = arguments;
        var bytes = Encoding.UTF8.GetBytes(msg.ToJsonString() + "\n");
        try
        {
            await _writeLock.WaitAsync(ct);
            try
            {
                if (fd < 0) await _stream.WriteAsync(bytes, ct);
                else Vireo.Host.FdPassing.Send(_socket.SafeHandle, bytes, fd);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            _pending.TryRemove(id, out _);
            throw new QmpDisconnectedException($"The QEMU monitor of '{_label}' is closed.", e);
        }
        // The reader may have failed everything between our check and our insert.
        if (_closed is { } c2 && _pending.TryRemove(id, out _)) throw new QmpDisconnectedException(c2.Message, c2);
        try
        {
            var reply = await tcs.Task.WaitAsync(timeout, ct);
            return reply;
        }
        catch (TimeoutException)
        {
            _pending.TryRemove(id, out _);
            throw new TimeoutException($"QEMU did not answer '{command}' for '{_label}' within {timeout.TotalSeconds:0.#} s: its monitor is hung (QEMU may still carry the command out if it recovers; destroy ends it).");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Runs a human monitor (HMP) command through QMP and returns its text.</summary>
    public async Task<string> HumanCommandAsync(string commandLine, CancellationToken ct = default)
    {
        var r = await ExecuteAsync("human-monitor-command", new JsonObject { ["command-line"] = commandLine }, ct);
        return r?.GetValue<string>() ?? "";
    }

    /// <summary>Sends a raw QMP command (JSON text with "execute"); returns the whole reply object.</summary>
    public async Task<JsonObject> RawAsync(string json, CancellationToken ct = default)
    {
        JsonObject req;
        try
        {
            req = JsonNode.Parse(json) as JsonObject ?? throw new FormatException("not an object");
        }
        catch (Exception e) when (e is JsonException or FormatException)
        {
            throw new ArgumentException($"The QMP command is not a JSON object: {e.Message}. Example: '{{\"execute\":\"query-status\"}}'.");
        }
        var cmd = req["execute"]?.GetValue<string>() ?? throw new ArgumentException("The QMP command needs an \"execute\" member.");
        try
        {
            var ret = await ExecuteAsync(cmd, req["arguments"]?.DeepClone() as JsonObject, ct);
            return new JsonObject { ["return"] = ret?.DeepClone() ?? new JsonObject() };
        }
        catch (QmpErrorException e)
        {
            return new JsonObject { ["error"] = new JsonObject { ["class"] = e.ErrorClass, ["desc"] = e.Description } };
        }
    }

    private async Task ReadLoopAsync(TaskCompletionSource<JsonObject> greeting)
    {
        Exception? failure = null;
        try
        {
            using var reader = new StreamReader(_stream, Encoding.UTF8, false, 16384, leaveOpen: true);
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) continue;
                JsonObject? obj;
                try { obj = JsonNode.Parse(line) as JsonObject; }
                catch (JsonException) { continue; }
                if (obj is null) continue;
                if (obj["QMP"] is JsonObject g) { greeting.TrySetResult(g); continue; }
                if (obj["event"] is JsonNode ev)
                {
                    var ts = obj["timestamp"] is JsonObject t
                        ? DateTimeOffset.FromUnixTimeMilliseconds(t["seconds"]!.GetValue<long>() * 1000 + t["microseconds"]!.GetValue<long>() / 1000)
                        : DateTimeOffset.UtcNow;
                    _events.Writer.TryWrite(new QmpEvent(ev.GetValue<string>(), obj["data"] as JsonObject, ts));
                    continue;
                }
                if (obj["id"] is JsonNode idNode && _pending.TryRemove(idNode.GetValue<long>(), out var pending))
                {
                    if (obj["error"] is JsonObject err)
                        pending.Reply.TrySetException(new QmpErrorException(pending.Command, err["class"]?.GetValue<string>() ?? "GenericError", err["desc"]?.GetValue<string>() ?? "unknown error"));
                    else
                        pending.Reply.TrySetResult(obj["return"]?.DeepClone());
                }
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        finally
        {
            var closed = new QmpDisconnectedException($"The QEMU monitor of '{_label}' closed (QEMU exited or the connection dropped).", failure);
            _closed = closed;
            greeting.TrySetException(closed);
            foreach (var id in _pending.Keys)
                if (_pending.TryRemove(id, out var pending)) pending.Reply.TrySetException(closed);
            _events.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { _socket.Shutdown(SocketShutdown.Both); } catch { }
        _stream.Dispose();
        if (_reader is not null) { try { await _reader; } catch { } }
    }
}
