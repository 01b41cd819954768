using System.Net.WebSockets;
using Vireo.Host;

namespace Vireo.Cli;

/// <summary>virsh console: the guest's serial console on this terminal, until Ctrl+] or the guest stops.</summary>
internal static class ConsoleSession
{
    private const byte Escape = 0x1d; // Ctrl+]

    public static async Task<int> RunAsync(DaemonClient c, string domain, bool force, CancellationToken ct)
    {
        var info = await c.DomainAsync(domain, ct);
        if (info.Id is null) throw new CliException($"Domain '{info.Name}' is not running.");
        using var ws = await c.WebSocketAsync($"v1/domains/{DaemonClient.E(info.Name)}/console{(force ? "?force=true" : "")}", ct);
        Console.WriteLine($"Connected to domain '{info.Name}'");
        Console.WriteLine("Escape character is ^] (Ctrl + ])");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using (new RawTerminal())
        {
            var stdout = Console.OpenStandardOutput();
            var stdin = Console.OpenStandardInput();
            var output = Task.Run(async () =>
            {
                var buf = new byte[4096];
                try
                {
                    while (true)
                    {
                        var r = await ws.ReceiveAsync(buf, cts.Token);
                        if (r.MessageType == WebSocketMessageType.Close) break;
                        await stdout.WriteAsync(buf.AsMemory(0, r.Count), cts.Token);
                        await stdout.FlushAsync(cts.Token);
                    }
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException) { }
            });
            var input = Task.Run(async () =>
            {
                var buf = new byte[1024];
                try
                {
                    while (true)
                    {
                        var n = await stdin.ReadAsync(buf, cts.Token);
                        if (n <= 0) break;
                        var esc = Array.IndexOf(buf, Escape, 0, n);
                        if (esc >= 0) n = esc;
                        if (n > 0) await ws.SendAsync(buf.AsMemory(0, n), WebSocketMessageType.Binary, true, cts.Token);
                        if (esc >= 0) break;
                    }
                }
                catch (Exception e) when (e is WebSocketException or OperationCanceledException or IOException) { }
            });
            await Task.WhenAny(output, input);
            cts.Cancel();
            try
            {
                if (ws.State == WebSocketState.Open)
                    await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "detached", CancellationToken.None);
            }
            catch (WebSocketException) { }
        }
        Console.WriteLine();
        return 0;
    }
}
