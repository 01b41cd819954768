using System.Net.WebSockets;

namespace Vireo.Web;

/// <summary>Pumps bytes between a console pty and a WebSocket until either side ends.</summary>
public static class ConsoleBridge
{
    public static async Task RunAsync(WebSocket ws, Stream pty, Action close, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // pty reads block (a tty fd cannot use async I/O here): a dedicated thread.
        var fromPty = Task.Factory.StartNew(async () =>
        {
            var buf = new byte[4096];
            try
            {
                while (!cts.IsCancellationRequested)
                {
                    var n = pty.Read(buf, 0, buf.Length);
                    if (n <= 0) break;
                    await ws.SendAsync(buf.AsMemory(0, n), WebSocketMessageType.Binary, true, cts.Token);
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or WebSocketException or OperationCanceledException) { }
        }, TaskCreationOptions.LongRunning).Unwrap();
        var toPty = Task.Run(async () =>
        {
            var buf = new byte[4096];
            try
            {
                while (true)
                {
                    var r = await ws.ReceiveAsync(buf, cts.Token);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    pty.Write(buf, 0, r.Count);
                    pty.Flush();
                }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or WebSocketException or OperationCanceledException) { }
        });
        await Task.WhenAny(fromPty, toPty);
        cts.Cancel();
        close(); // closing the pty ends the blocked read
        try
        {
            if (ws.State == WebSocketState.Open)
                await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "console closed", CancellationToken.None);
        }
        catch (WebSocketException) { }
        await Task.WhenAll(fromPty, toPty);
    }
}
