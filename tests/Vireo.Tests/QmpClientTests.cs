using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Vireo.Qemu;

namespace Vireo.Tests;

/// <summary>Protocol edge cases against a scripted QMP peer (real QEMU is used by the integration tests).</summary>
public sealed class QmpClientTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vireo-qmp-").FullName;
    private string SocketPath => Path.Combine(_dir, "qmp.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A fake QEMU: greets, acknowledges qmp_capabilities, then hands each request to the script.</summary>
    private async Task<Task> ServeAsync(Func<JsonObject, StreamWriter, Task> onRequest)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen(1);
        return Task.Run(async () =>
        {
            using var l = listener;
            using var conn = await l.AcceptAsync();
            await using var stream = new NetworkStream(conn);
            using var reader = new StreamReader(stream);
            await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\r\n" };
            await writer.WriteLineAsync("""{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": ["oob"]}}""");
            while (await reader.ReadLineAsync() is { } line)
            {
                var req = JsonNode.Parse(line)!.AsObject();
                if (req["execute"]!.GetValue<string>() == "qmp_capabilities")
                {
                    await writer.WriteLineAsync($$"""{"return": {}, "id": {{req["id"]!.ToJsonString()}}}""");
                    continue;
                }
                await onRequest(req, writer);
            }
        });
    }

    [Fact]
    public async Task Replies_are_matched_by_id_even_out_of_order_and_events_are_delivered()
    {
        JsonObject? held = null;
        var server = await ServeAsync(async (req, w) =>
        {
            var cmd = req["execute"]!.GetValue<string>();
            if (cmd == "slow") { held = req; return; }
            await w.WriteLineAsync("""{"timestamp": {"seconds": 1, "microseconds": 5}, "event": "STOP"}""");
            await w.WriteLineAsync($$"""{"return": {"cmd": "{{cmd}}"}, "id": {{req["id"]!.ToJsonString()}}}""");
            await w.WriteLineAsync($$"""{"return": {"cmd": "slow"}, "id": {{held!["id"]!.ToJsonString()}}}""");
        });
        await using var qmp = await QmpClient.ConnectAsync(SocketPath, "t");
        Assert.Equal(7, qmp.Greeting!["version"]!["qemu"]!["major"]!.GetValue<int>());
        var slow = qmp.ExecuteAsync("slow");
        await Task.Delay(50);
        var fast = await qmp.ExecuteAsync("fast");
        Assert.Equal("fast", fast!["cmd"]!.GetValue<string>());
        Assert.Equal("slow", (await slow)!["cmd"]!.GetValue<string>());
        var ev = await qmp.Events.ReadAsync();
        Assert.Equal("STOP", ev.Name);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1000), ev.Timestamp);
    }

    [Fact]
    public async Task Errors_become_exceptions_with_class_and_description()
    {
        await ServeAsync((req, w) => w.WriteLineAsync(
            $$"""{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}, "id": {{req["id"]!.ToJsonString()}}}"""));
        await using var qmp = await QmpClient.ConnectAsync(SocketPath, "t");
        var e = await Assert.ThrowsAsync<QmpErrorException>(() => qmp.ExecuteAsync("nope"));
        Assert.Equal("CommandNotFound", e.ErrorClass);
        Assert.Equal("QEMU rejected 'nope': The command nope has not been found", e.Message);
        var raw = await qmp.RawAsync("""{"execute":"nope"}""");
        Assert.Equal("CommandNotFound", raw["error"]!["class"]!.GetValue<string>());
    }

    [Fact]
    public async Task When_qemu_goes_away_pending_and_later_calls_fail_at_once()
    {
        var release = new TaskCompletionSource();
        await ServeAsync(async (req, w) =>
        {
            await release.Task;      // hold the command, then die without answering
            w.BaseStream.Dispose();
        });
        await using var qmp = await QmpClient.ConnectAsync(SocketPath, "guest1");
        var pending = qmp.ExecuteAsync("query-status");
        await Task.Delay(50);
        Assert.False(pending.IsCompleted);
        release.SetResult();
        var e = await Assert.ThrowsAsync<QmpDisconnectedException>(() => pending);
        Assert.Contains("'guest1'", e.Message);
        // Sticky: the next call fails without waiting for any timeout.
        var next = qmp.ExecuteAsync("query-status", null, TimeSpan.FromMinutes(5), CancellationToken.None);
        Assert.True(next.IsCompleted);
        await Assert.ThrowsAsync<QmpDisconnectedException>(() => next);
    }

    [Fact]
    public async Task Server_closing_mid_command_fails_the_command()
    {
        var server = await ServeAsync((req, w) =>
        {
            w.BaseStream.Dispose(); // QEMU exits while a command is in flight
            return Task.CompletedTask;
        });
        await using var qmp = await QmpClient.ConnectAsync(SocketPath, "guest2");
        await Assert.ThrowsAsync<QmpDisconnectedException>(() => qmp.ExecuteAsync("system_powerdown"));
        await qmp.Completion;
        Assert.False(await qmp.Events.WaitToReadAsync()); // the event channel is completed too
    }

    [Fact]
    public async Task No_listener_is_a_clear_error()
    {
        var e = await Assert.ThrowsAsync<QmpDisconnectedException>(() => QmpClient.ConnectAsync(SocketPath, "ghost"));
        Assert.Contains("Cannot reach the QEMU monitor of 'ghost'", e.Message);
    }
}
