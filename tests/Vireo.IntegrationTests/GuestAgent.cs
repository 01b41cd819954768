using System.Net.Sockets;
using System.Text;

namespace Vireo.IntegrationTests;

/// <summary>
/// Talks to the test guest's command loop on its second serial port (kernel argument
/// vireo.agent, a unix socket on the host): sends one shell line, returns its output.
/// </summary>
public sealed class GuestAgent : IDisposable
{
    private Socket? _socket;
    private readonly string _path;

    public GuestAgent(string path) => _path = path;

    /// <summary>The serial device the guest XML needs for the agent.</summary>
    public static string Device(string path) =>
        $"<serial type='unix'><source mode='bind' path='{path}'/><target port='1'/></serial>";

    /// <summary>Runs a command in the guest; throws unless it exits 0.</summary>
    public async Task<string> RunAsync(string command, double timeoutSeconds = 60)
    {
        var (status, output) = await TryRunAsync(command, timeoutSeconds);
        if (status != 0) throw new InvalidOperationException($"guest command '{command}' exited {status}: {output}");
        return output;
    }

    public async Task<(int Status, string Output)> TryRunAsync(string command, double timeoutSeconds = 60)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var s = await ConnectAsync(cts.Token);
        await s.SendAsync(Encoding.UTF8.GetBytes(command + "\n"), cts.Token);
        var sb = new StringBuilder();
        var buf = new byte[4096];
        while (true)
        {
            var text = sb.ToString();
            var end = text.IndexOf("VIREO-AGENT-END ", StringComparison.Ordinal);
            var nl = end < 0 ? -1 : text.IndexOf('\n', end);
            if (nl > 0) return (int.Parse(text[(end + 16)..nl].Trim()), text[..end].Replace("\r", ""));
            int n;
            try { n = await s.ReceiveAsync(buf, cts.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"guest command '{command}' did not answer within {timeoutSeconds} s; so far: {text}"); }
            if (n == 0) { Reset(); throw new IOException($"the guest's agent socket closed during '{command}'; so far: {text}"); }
            sb.Append(Encoding.UTF8.GetString(buf, 0, n));
        }
    }

    private async Task<Socket> ConnectAsync(CancellationToken ct)
    {
        if (_socket is { Connected: true }) return _socket;
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(_path), ct);
        _socket = s;
        return s;
    }

    /// <summary>Runs a command until its output is what is expected (a hot-plug or media change takes a moment); the last output.</summary>
    public async Task<string> UntilAsync(string command, string expected, double seconds = 30)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var last = "";
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            var (_, output) = await TryRunAsync(command);
            last = output.Trim();
            if (last == expected) return last;
            await Task.Delay(300);
        }
        return last;
    }

    /// <summary>
    /// Starts a counter in the guest's tmpfs that goes up ten times a second: it tells whether a
    /// guest's memory went on (save/restore) or went back (snapshot revert). Each value is written
    /// to a new file and renamed over the old one, because "echo > file" truncates first and a
    /// read between the truncation and the write would see nothing.
    /// </summary>
    public Task StartCounterAsync() =>
        RunAsync("(i=0; while :; do i=$((i+1)); echo $i > /tmp/counter.new; mv /tmp/counter.new /tmp/counter; sleep 0.1; done) >/dev/null 2>&1 &");

    /// <summary>The counter's value now (see <see cref="StartCounterAsync"/>).</summary>
    public async Task<int> CounterAsync() => int.Parse((await RunAsync("cat /tmp/counter")).Trim());

    /// <summary>Forgets the connection (a new QEMU serves a new socket after restore).</summary>
    public void Reset()
    {
        _socket?.Dispose();
        _socket = null;
    }

    public void Dispose() => Reset();
}
