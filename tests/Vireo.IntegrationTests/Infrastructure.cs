using System.Diagnostics;
using System.Text;
using System.Xml.Linq;

[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Vireo.IntegrationTests;

/// <summary>The built binary and the test guest, made once per test run.</summary>
public sealed class VireoFixture
{
    public string Repo { get; }
    public string Binary { get; }
    public string GuestDir { get; }

    public VireoFixture()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Vireo.sln"))) dir = dir.Parent;
        Repo = dir?.FullName ?? throw new InvalidOperationException("Vireo.sln not found above " + AppContext.BaseDirectory);
        // ./vireo builds the binary on first use (or when sources changed).
        Run(Path.Combine(Repo, "vireo"), "--help");
        Binary = Path.Combine(Repo, "out", "vireo", "vireo");
        GuestDir = Reachable(Run(Path.Combine(Repo, "guest", "build.sh")).Trim());
    }

    /// <summary>
    /// The test guest where a confined QEMU (vireo-qemu) can read it: its build dir when every
    /// directory above is searchable by others, else a copy in the temp dir (a checkout under a
    /// 0700 home would otherwise be refused at every start, with that directory named).
    /// </summary>
    private static string Reachable(string guestDir)
    {
        for (var d = Path.GetDirectoryName(Path.GetFullPath(guestDir)); d is not null; d = Path.GetDirectoryName(d))
        {
            if ((File.GetUnixFileMode(d) & UnixFileMode.OtherExecute) != 0) continue;
            var copy = Path.Combine(Path.GetTempPath(), "vireo-guest-" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(guestDir)))[..12].ToLowerInvariant());
            Directory.CreateDirectory(copy);
            File.SetUnixFileMode(copy, (UnixFileMode)0x1ed);
            foreach (var f in Directory.EnumerateFiles(guestDir))
            {
                var to = Path.Combine(copy, Path.GetFileName(f));
                File.Copy(f, to, overwrite: true);
                File.SetUnixFileMode(to, (UnixFileMode)0x1a4);
            }
            return copy;
        }
        return guestDir;
    }

    private static string Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} failed ({p.ExitCode}): {err.Result}");
        return output;
    }
}

[CollectionDefinition("vireo")]
public sealed class VireoCollection : ICollectionFixture<VireoFixture>;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>
/// A vireod of the test's own (own config and run dirs, own socket) running the real binary.
/// Disposing stops it and ends every QEMU it started (by the pids in its run dir), so a failed
/// test leaves nothing behind.
/// </summary>
public sealed class TestDaemon : IAsyncDisposable
{
    private readonly VireoFixture _fx;
    private Process? _proc;
    private readonly StringBuilder _log = new();

    public string Root { get; }
    public string ConfigDir => Path.Combine(Root, "etc");
    public string RunDir => Path.Combine(Root, "run");
    public string DataDir => Path.Combine(Root, "data");
    /// <summary>The default pool's directory.</summary>
    public string Images => Path.Combine(DataDir, "images");
    public string Socket => Path.Combine(RunDir, "vireo.sock");
    /// <summary>The read-only API socket any local user may use.</summary>
    public string SocketRo => Path.Combine(RunDir, "vireo-ro.sock");
    /// <summary>libvirt's remote protocol (and LibvirtSocket + "-ro", read-only), for virsh and python-libvirt.</summary>
    public string LibvirtSocket => Path.Combine(RunDir, "libvirt-sock");
    public string LibvirtUri => $"qemu+unix:///system?socket={LibvirtSocket}";
    public string Log { get { lock (_log) return _log.ToString(); } }
    public int Pid => _proc!.Id;

    /// <summary>The network namespace the daemon (and so its dnsmasq and QEMUs) runs in; null for the host's.</summary>
    public NetNs? Namespace { get; }

    private TestDaemon(VireoFixture fx, string root, NetNs? ns)
    {
        _fx = fx;
        Root = root;
        Namespace = ns;
        // dnsmasq drops root for "nobody" and must still reach its files in the run dir.
        File.SetUnixFileMode(root, (UnixFileMode)0x1ed);
    }

    /// <summary>The web console's address (HOST:PORT) when asked for; otherwise the daemon runs without one.</summary>
    public string? Web { get; private set; }

    /// <summary>More options for the daemon command line.</summary>
    public string[] ExtraArgs { get; private init; } = [];
    /// <summary>The umask the daemon is started under (its own shell's), or null for the test's.</summary>
    public string? Umask { get; private init; }

    public static async Task<TestDaemon> StartAsync(VireoFixture fx, NetNs? ns = null, string? web = null, string[]? args = null, string? umask = null)
    {
        var d = new TestDaemon(fx, Directory.CreateTempSubdirectory("vireo-it-").FullName, ns) { Web = web, ExtraArgs = args ?? [], Umask = umask };
        await d.LaunchAsync();
        return d;
    }

    /// <summary>Starts (or restarts) the daemon process on the same dirs.</summary>
    public async Task LaunchAsync()
    {
        // In a namespace: "ip netns exec" execs the daemon in place (same pid) with /sys remounted
        // for that namespace, which the daemon reads for macvtap devices.
        var psi = new ProcessStartInfo(Namespace is null ? _fx.Binary : "/usr/sbin/ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Umask is not null)
        {
            // A shell that sets the umask and execs the rest in place (the pid stays the daemon's).
            psi.FileName = "/bin/sh";
            foreach (var a in new[] { "-c", $"umask {Umask}; exec \"$@\"", "sh", Namespace is null ? _fx.Binary : "/usr/sbin/ip" }) psi.ArgumentList.Add(a);
        }
        if (Namespace is not null) foreach (var a in new[] { "netns", "exec", Namespace.Name, _fx.Binary }) psi.ArgumentList.Add(a);
        foreach (var a in new[] { "daemon", "--config-dir", ConfigDir, "--run-dir", RunDir, "--data-dir", DataDir, "--web", Web ?? "none",
                     "--libvirt-listen", "unix:" + LibvirtSocket, "--libvirt-listen-ro", "unix:" + LibvirtSocket + "-ro" }.Concat(ExtraArgs)) psi.ArgumentList.Add(a);
        _proc = Process.Start(psi)!;
        _proc.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _proc.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_log) _log.AppendLine(e.Data); };
        _proc.BeginOutputReadLine();
        _proc.BeginErrorReadLine();
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_proc.HasExited) throw new InvalidOperationException($"vireod exited ({_proc.ExitCode}):\n{Log}");
            if (File.Exists(Socket) && (await RunAsync("list")).ExitCode == 0) return;
            await Task.Delay(20);
        }
        throw new TimeoutException("vireod did not answer within 30 s:\n" + Log);
    }

    /// <summary>kill -9 the daemon (guests must survive).</summary>
    public async Task KillAsync()
    {
        _proc!.Kill();
        await _proc.WaitForExitAsync();
    }

    /// <summary>Environment the CLI runs with besides VIREO_CONNECT (EDITOR for vireo edit, say).</summary>
    public Dictionary<string, string> CliEnvironment { get; } = [];

    public async Task<CliResult> RunAsync(params string[] args) => await RunWithInputAsync(null, args);

    public async Task<CliResult> RunWithInputAsync(Func<StreamWriter, Task>? input, params string[] args)
    {
        var psi = new ProcessStartInfo(_fx.Binary) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        psi.Environment["VIREO_CONNECT"] = "unix:" + Socket;
        foreach (var (k, v) in CliEnvironment) psi.Environment[k] = v;
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (input is not null) await input(p.StandardInput);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(600));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs a command that must succeed; returns its stdout.</summary>
    public async Task<string> OkAsync(params string[] args)
    {
        var r = await RunAsync(args);
        Assert.True(r.ExitCode == 0, $"vireo {string.Join(' ', args)} failed: {r}\ndaemon log:\n{Log}");
        return r.Stdout;
    }

    public async Task<string> FailAsync(params string[] args)
    {
        var r = await RunAsync(args);
        Assert.True(r.ExitCode != 0, $"vireo {string.Join(' ', args)} should have failed: {r}");
        Assert.StartsWith("error: ", r.Stderr);
        return r.Stderr;
    }

    public string SerialLog(string name) => Path.Combine(Root, name + ".serial.log");

    /// <summary>A test guest definition: the Debian kernel + busybox initramfs, serial on a pty logged to a file.</summary>
    public string GuestXml(string name, string cmdlineExtra = "", string devices = "", string extra = "", int memoryMiB = 128, string type = "qemu", bool appendLog = false)
    {
        return $"""
            <domain type='{type}'>
              <name>{name}</name>
              <memory unit='MiB'>{memoryMiB}</memory>
              <vcpu>1</vcpu>
              <os>
                <type arch='x86_64' machine='pc'>hvm</type>
                <kernel>{_fx.GuestDir}/vmlinuz</kernel>
                <initrd>{_fx.GuestDir}/initrd.img</initrd>
                <cmdline>console=ttyS0 quiet panic=-1 {cmdlineExtra}</cmdline>
              </os>
              <features><acpi/><apic/></features>
              {extra}
              <devices>
                <serial type='pty'><log file='{SerialLog(name)}' append='{(appendLog ? "on" : "off")}'/><target port='0'/></serial>
                {devices}
              </devices>
            </domain>
            """;
    }

    public async Task DefineAsync(string xml)
    {
        var file = Path.Combine(Root, $"def-{Guid.NewGuid():N}.xml");
        await File.WriteAllTextAsync(file, xml);
        await OkAsync("define", file);
    }

    public async Task<CliResult> DefineResultAsync(string xml)
    {
        var file = Path.Combine(Root, $"def-{Guid.NewGuid():N}.xml");
        await File.WriteAllTextAsync(file, xml);
        return await RunAsync("define", file);
    }

    /// <summary>Waits until the guest's serial log holds the marker (count times).</summary>
    public async Task WaitForSerialAsync(string name, string marker, int count = 1, double timeoutSeconds = 90)
    {
        var sw = Stopwatch.StartNew();
        var path = SerialLog(name);
        while (sw.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            if (File.Exists(path))
            {
                var text = await File.ReadAllTextAsync(path);
                var n = 0;
                for (var i = text.IndexOf(marker, StringComparison.Ordinal); i >= 0; i = text.IndexOf(marker, i + 1, StringComparison.Ordinal)) n++;
                if (n >= count) return;
            }
            await Task.Delay(50);
        }
        var content = File.Exists(path) ? await File.ReadAllTextAsync(path) : "(no serial log)";
        throw new TimeoutException($"'{marker}' x{count} did not appear on {name}'s serial console within {timeoutSeconds} s:\n{content}\ndaemon log:\n{Log}");
    }

    public async Task<string> StateAsync(string name) => (await OkAsync("domstate", name, "--reason")).Trim();

    public async Task WaitForStateAsync(string name, string state, double timeoutSeconds = 30)
    {
        var sw = Stopwatch.StartNew();
        string last = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(timeoutSeconds))
        {
            last = await StateAsync(name);
            if (last == state) return;
            await Task.Delay(50);
        }
        Assert.Fail($"{name} is '{last}', expected '{state}' within {timeoutSeconds} s");
    }

    /// <summary>pids of the QEMUs this daemon runs, from its run dir.</summary>
    public IReadOnlyDictionary<string, int> QemuPids()
    {
        var dir = Path.Combine(RunDir, "qemu");
        var result = new Dictionary<string, int>();
        if (!Directory.Exists(dir)) return result;
        foreach (var f in Directory.EnumerateFiles(dir, "*.xml"))
        {
            try
            {
                var pid = int.Parse(XElement.Load(f).Attribute("pid")!.Value);
                result[Path.GetFileNameWithoutExtension(f)] = pid;
            }
            catch (Exception e) when (e is IOException or System.Xml.XmlException or NullReferenceException) { }
        }
        return result;
    }

    /// <summary>An HTTP client on the daemon's API socket, for what the CLI never sends (bad bodies, odd methods).</summary>
    public HttpClient Api() => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) =>
        {
            var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(Socket), ct);
            return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
        },
    }) { BaseAddress = new Uri("http://vireo") };

    /// <summary>
    /// Every live QEMU started for this daemon, found in /proc by the pid file in its argv (the
    /// daemon's run dir), whatever the daemon itself knows of them.
    /// </summary>
    public IReadOnlyList<int> QemusOnHost()
    {
        var mine = new List<int>();
        var marker = Path.Combine(RunDir, "qemu") + "/";
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var argv = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                var i = Array.IndexOf(argv, "-pidfile");
                if (i >= 0 && i + 1 < argv.Length && argv[i + 1].StartsWith(marker, StringComparison.Ordinal) && Alive(pid)) mine.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return mine;
    }

    public static bool Alive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ");

    /// <summary>pids of the dnsmasqs this daemon runs, from its run dir.</summary>
    public IReadOnlyDictionary<string, int> DnsmasqPids()
    {
        var dir = Path.Combine(RunDir, "network");
        var result = new Dictionary<string, int>();
        if (!Directory.Exists(dir)) return result;
        foreach (var f in Directory.EnumerateFiles(dir, "*.xml"))
        {
            try
            {
                if (XElement.Load(f).Attribute("dnsmasq-pid") is { } p) result[Path.GetFileNameWithoutExtension(f)] = int.Parse(p.Value);
            }
            catch (Exception e) when (e is IOException or System.Xml.XmlException or FormatException) { }
        }
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        var pids = QemuPids().Values.Concat(DnsmasqPids().Values).ToList();
        if (_proc is { HasExited: false })
        {
            _proc.Kill();
            await _proc.WaitForExitAsync();
        }
        // The QEMUs this daemon started (their own sessions, so they outlive it): end them by pid.
        foreach (var pid in pids.Where(Alive))
        {
            try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        }
        foreach (var pid in pids)
            for (int i = 0; i < 100 && Alive(pid); i++) await Task.Delay(20);
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Small helpers the tests share.</summary>
public static class Net
{
    /// <summary>A TCP port on loopback nobody listens on right now.</summary>
    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        var port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}

/// <summary>
/// A TCP port on the host's loopback that passes each connection on to a unix socket, the way
/// a reverse proxy would: the browser on the host reaches a web console served on a unix socket
/// by a daemon inside a network namespace (its TCP ports are that namespace's own).
/// </summary>
public sealed class UnixForwarder : IAsyncDisposable
{
    private readonly System.Net.Sockets.TcpListener _listener = new(System.Net.IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public int Port => ((System.Net.IPEndPoint)_listener.LocalEndpoint).Port;

    public UnixForwarder(string socketPath)
    {
        _listener.Start();
        _accepting = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                System.Net.Sockets.TcpClient client;
                try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                _ = Task.Run(async () =>
                {
                    using var c = client;
                    using var unix = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                    try
                    {
                        await unix.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), _stop.Token);
                        await using var u = new System.Net.Sockets.NetworkStream(unix, ownsSocket: false);
                        var t = c.GetStream();
                        // Either side closing ends the pair.
                        await Task.WhenAny(t.CopyToAsync(u, _stop.Token), u.CopyToAsync(t, _stop.Token));
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException) { }
                });
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
    }
}

/// <summary>
/// A static file server on the host's loopback (HttpListener): an install tree "on a mirror"
/// for --location http://. Answers GET and HEAD; records each request as "METHOD /path".
/// </summary>
public sealed class TreeServer : IDisposable
{
    private readonly System.Net.HttpListener _listener = new();
    private readonly string _root;
    public System.Collections.Concurrent.ConcurrentQueue<string> Requests { get; } = new();
    public string Url { get; }

    public TreeServer(string root)
    {
        _root = root;
        Url = $"http://127.0.0.1:{Net.FreePort()}/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _ = ServeAsync();
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            System.Net.HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException) { return; }
            var rq = ctx.Request;
            Requests.Enqueue($"{rq.HttpMethod} {rq.Url!.AbsolutePath}");
            var path = Path.GetFullPath(Path.Combine(_root, Uri.UnescapeDataString(rq.Url.AbsolutePath).TrimStart('/')));
            try
            {
                if (!path.StartsWith(_root, StringComparison.Ordinal) || !File.Exists(path)) { ctx.Response.StatusCode = 404; continue; }
                ctx.Response.ContentLength64 = new FileInfo(path).Length;
                if (rq.HttpMethod == "GET")
                {
                    await using var f = File.OpenRead(path);
                    await f.CopyToAsync(ctx.Response.OutputStream);
                }
            }
            catch (Exception e) when (e is IOException or System.Net.HttpListenerException) { }
            finally { try { ctx.Response.Close(); } catch (Exception) { } }
        }
    }

    public void Dispose() => _listener.Close();
}

/// <summary>The host's processes as /proc shows them.</summary>
internal static class Procs
{
    /// <summary>PIDs of the daemon's descendants whose command is <paramref name="comm"/>.</summary>
    internal static List<int> ChildProcesses(int root, string comm) =>
        Descendants(root).Where(p => ReadProc(p, "comm")?.Trim() == comm).ToList();

    internal static IEnumerable<int> Descendants(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            var stat = ReadProc(pid, "stat");
            if (stat is null) continue;
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (int.TryParse(fields[1], out var ppid)) (children.TryGetValue(ppid, out var l) ? l : children[ppid] = []).Add(pid);
        }
        var queue = new Queue<int>([root]);
        while (queue.TryDequeue(out var p))
            foreach (var c in children.GetValueOrDefault(p) ?? [])
            {
                yield return c;
                queue.Enqueue(c);
            }
    }

    internal static string? ReadProc(int pid, string file)
    {
        try { return File.ReadAllText($"/proc/{pid}/{file}"); }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
