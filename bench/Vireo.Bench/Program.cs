using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Vireo.Cli;

// Vireo's figures beside the raw QEMU floor, measured in one run, interleaved where they are
// compared. Usage: Vireo.Bench <vireo binary> <guest dir> [--quick] [--net-only | --storage-only | --vs-libvirt]
var binary = args[0];
var guestDir = args[1];
var quick = args.Contains("--quick");
var netOnly = args.Contains("--net-only"); // just the network figures
var storageOnly = args.Contains("--storage-only"); // just the storage figures
var vsLibvirt = args.Contains("--vs-libvirt"); // virsh on libvirtd beside virsh on Vireo's libvirt socket
var reps = quick ? 3 : 7;
var root = Directory.CreateTempSubdirectory("vireo-bench-").FullName;
var rows = new List<(string Figure, string Raw, string Vireo, string Target)>();
var cleanup = new List<int>();
string? netns = null;
var cleaned = 0;
Console.Error.WriteLine($"bench: work dir {root}; {reps} repetitions");

string Ms(double ms) => ms >= 1000 ? $"{ms / 1000:0.00} s" : $"{ms:0.0} ms";
double Median(IEnumerable<double> xs) { var a = xs.OrderBy(x => x).ToArray(); return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2; }
double RssMiB(int pid) { foreach (var l in File.ReadLines($"/proc/{pid}/status")) if (l.StartsWith("VmRSS:")) return double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024; return 0; }

string GuestXml(string name, string serial) => $"""
    <domain type='qemu'>
      <name>{name}</name>
      <memory unit='MiB'>128</memory>
      <vcpu>1</vcpu>
      <os>
        <type arch='x86_64' machine='pc'>hvm</type>
        <kernel>{guestDir}/vmlinuz</kernel>
        <initrd>{guestDir}/initrd.img</initrd>
        <cmdline>console=ttyS0 quiet panic=-1</cmdline>
      </os>
      <features><acpi/><apic/></features>
      <devices><serial type='file'><source path='{serial}'/><target port='0'/></serial></devices>
    </domain>
    """;

async Task WaitForFile(string path, string marker, Stopwatch sw, double timeoutS = 120)
{
    while (sw.Elapsed.TotalSeconds < timeoutS)
    {
        try
        {
            if (File.Exists(path))
            {
                using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                var text = new StreamReader(fs).ReadToEnd();
                if (marker.Length == 0 ? text.Contains('\n') : text.Contains(marker)) return;
            }
        }
        catch (IOException) { }
        await Task.Delay(2);
    }
    throw new TimeoutException($"{marker} in {path}");
}

// ---- raw QEMU: the same guest, the same options Vireo gives, no manager ----
async Task<(int Pid, Process P, double RunningMs, string Serial, string Qmp)> RawStart(string tag)
{
    var serial = Path.Combine(root, $"raw-{tag}.serial");
    var qmp = Path.Combine(root, $"raw-{tag}.qmp");
    File.Delete(serial); File.Delete(qmp);
    var psi = new ProcessStartInfo("/usr/bin/qemu-system-x86_64") { RedirectStandardError = true, RedirectStandardOutput = true };
    foreach (var a in new[] { "-machine", "pc,usb=off", "-accel", "tcg,thread=multi", "-cpu", "qemu64", "-m", "128", "-smp", "1", "-nodefaults", "-no-user-config",
                 "-display", "none", "-kernel", $"{guestDir}/vmlinuz", "-initrd", $"{guestDir}/initrd.img", "-append", "console=ttyS0 quiet panic=-1",
                 "-serial", $"file:{serial}", "-qmp", $"unix:{qmp},server=on,wait=off" }) psi.ArgumentList.Add(a);
    var sw = Stopwatch.StartNew();
    var p = Process.Start(psi)!;
    cleanup.Add(p.Id);
    // Poll for the QMP socket, then ask query-status.
    while (true)
    {
        if (File.Exists(qmp))
        {
            try
            {
                using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                s.Connect(new UnixDomainSocketEndPoint(qmp));
                var buf = new byte[4096];
                s.Receive(buf);
                s.Send("{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\"}\n"u8.ToArray());
                var got = new StringBuilder();
                while (!got.ToString().Contains("\"status\"")) got.Append(Encoding.UTF8.GetString(buf, 0, s.Receive(buf)));
                break;
            }
            catch (SocketException) { }
        }
        await Task.Delay(1);
    }
    return (p.Id, p, sw.Elapsed.TotalMilliseconds, serial, qmp);
}

async Task<double> RawDestroy(Process p)
{
    var sw = Stopwatch.StartNew();
    Vireo.Host.ProcessWatch.Signal(p.Id, 15);
    await p.WaitForExitAsync();
    return sw.Elapsed.TotalMilliseconds;
}

async Task<double> RawPowerdown(string qmp, Process p)
{
    using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    s.Connect(new UnixDomainSocketEndPoint(qmp));
    var buf = new byte[4096];
    s.Receive(buf);
    s.Send("{\"execute\":\"qmp_capabilities\"}\n"u8.ToArray());
    s.Receive(buf);
    var sw = Stopwatch.StartNew();
    s.Send("{\"execute\":\"system_powerdown\"}\n"u8.ToArray());
    await p.WaitForExitAsync();
    return sw.Elapsed.TotalMilliseconds;
}

// ---- Vireo ----
Process StartDaemon(string name, out string socket, params string[] extra)
{
    var dir = Path.Combine(root, name);
    socket = Path.Combine(dir, "run", "vireo.sock");
    var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { "daemon", "--config-dir", Path.Combine(dir, "etc"), "--run-dir", Path.Combine(dir, "run"), "--data-dir", Path.Combine(dir, "data") }.Concat(extra)) psi.ArgumentList.Add(a);
    var p = Process.Start(psi)!;
    p.OutputDataReceived += (_, _) => { };
    p.ErrorDataReceived += (_, _) => { };
    p.BeginOutputReadLine();
    p.BeginErrorReadLine();
    cleanup.Add(p.Id);
    return p;
}

async Task<double> FirstAnswer(string socket, Stopwatch sw)
{
    using var c = new DaemonClient("unix:" + socket);
    while (true)
    {
        try
        {
            using var r = await c.SendAsync("GET", "v1/domains");
            return sw.Elapsed.TotalMilliseconds;
        }
        catch (CliException) { await Task.Delay(1); }
    }
}

async Task<double> Cli(string socket, params string[] a)
{
    var psi = new ProcessStartInfo(binary) { RedirectStandardOutput = true, RedirectStandardError = true };
    psi.Environment["VIREO_CONNECT"] = "unix:" + socket;
    foreach (var x in a) psi.ArgumentList.Add(x);
    var sw = Stopwatch.StartNew();
    using var p = Process.Start(psi)!;
    var o = p.StandardOutput.ReadToEndAsync();
    var e = p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    var t = sw.Elapsed.TotalMilliseconds;
    if (p.ExitCode != 0) throw new InvalidOperationException($"vireo {string.Join(' ', a)}: {await e}");
    await o;
    return t;
}

// API calls go over one kept-alive connection, like a long-lived client (web UI, scripts) or a
// virsh session; the CLI figures are separate, one process per command.
HttpClient Http(string socket) => new(new SocketsHttpHandler
{
    ConnectCallback = async (_, ct) =>
    {
        var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(socket), ct);
        return new NetworkStream(s, ownsSocket: true);
    },
}) { BaseAddress = new Uri("http://vireo/"), Timeout = TimeSpan.FromMinutes(5) };

async Task<double> Api(HttpClient c, string method, string path, Body? body = null)
{
    var sw = Stopwatch.StartNew();
    using var req = new HttpRequestMessage(new HttpMethod(method), path);
    if (body is not null) req.Content = new ByteArrayContent(body.Data);
    using var r = await c.SendAsync(req);
    await r.Content.ReadAsStringAsync();
    var t = sw.Elapsed.TotalMilliseconds;
    if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)r.StatusCode}");
    return t;
}

// A bench stopped with SIGTERM or Ctrl+C still removes its namespace and processes.
AppDomain.CurrentDomain.ProcessExit += (_, _) => Cleanup().GetAwaiter().GetResult();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; Cleanup().GetAwaiter().GetResult(); Environment.Exit(130); };

try
{
  if (vsLibvirt)
    await VsLibvirt.RunAsync(binary, guestDir, root, reps, rows, (name, extra) => StartDaemon(name, out _, extra));
  else if (storageOnly)
  {
    StartDaemon("storage", out var ssock);
    await FirstAnswer(ssock, Stopwatch.StartNew());
    using var sapi = Http(ssock);
    await StorageBench(sapi, Path.Combine(root, "storage", "data", "images"));
  }
  else if (!netOnly)
  {
    // 1. Daemon launch → first answered request; idle RSS.
    var launches = new List<double>();
    Process daemon = null!;
    string sock = "";
    for (int i = 0; i < reps; i++)
    {
        var sw = Stopwatch.StartNew();
        var d = StartDaemon($"launch{i}", out var s);
        launches.Add(await FirstAnswer(s, sw));
        if (i < reps - 1) { d.Kill(); await d.WaitForExitAsync(); }
        else { daemon = d; sock = s; }
    }
    rows.Add(("daemon launch → first answered request", "—", Ms(Median(launches)), "≤ 150 ms"));
    await Task.Delay(500);
    var rssIdle = RssMiB(daemon.Id);
    using var api = Http(sock);
    await Api(api, "GET", "v1/domains"); // the connection, and the first request's JIT

    // 2. define: API and CLI; 200 in one session.
    var defineApi = new List<double>();
    for (int i = 0; i < 200; i++)
        defineApi.Add(await Api(api, "POST", "v1/domains", DaemonClient.Xml(GuestXml($"d{i:0000}", Path.Combine(root, $"d{i}.serial")))));
    var xmlFile = Path.Combine(root, "one.xml");
    var defineCli = new List<double>();
    for (int i = 0; i < reps; i++)
    {
        await File.WriteAllTextAsync(xmlFile, GuestXml($"cli{i}", Path.Combine(root, "cli.serial")));
        defineCli.Add(await Cli(sock, "define", xmlFile));
    }
    rows.Add(("define one domain (API / CLI process)", "—", $"{Ms(Median(defineApi))} / {Ms(Median(defineCli))}", "API ≤ 2 ms; CLI ≤ 60 ms"));
    rows.Add(("define 200 domains, one session (API)", "—", Ms(defineApi.Sum()), "≤ 0.1 s"));
    await Task.Delay(300);
    var rss200 = RssMiB(daemon.Id);

    var list200 = new List<double>();
    var list200Api = new List<double>();
    for (int i = 0; i < reps; i++) { list200.Add(await Cli(sock, "list", "--all")); list200Api.Add(await Api(api, "GET", "v1/domains")); }
    rows.Add(("list --all, 200 defined (CLI / API)", "—", $"{Ms(Median(list200))} / {Ms(Median(list200Api))}", "≤ 50 ms"));

    // 3. start → running, start → first serial line, destroy, shutdown: interleaved with raw QEMU.
    var rawRun = new List<double>(); var vRun = new List<double>();
    var rawLine = new List<double>(); var vLine = new List<double>();
    var rawDestroy = new List<double>(); var vDestroy = new List<double>();
    var rawOff = new List<double>(); var vOff = new List<double>();
    double rawRss = 0, vRss = 0;
    // One unmeasured start/destroy of each kind first (page cache, JIT), as any figure of a
    // long-running daemon would be.
    {
        var warm = await RawStart("warm");
        warm.P.Kill(); await warm.P.WaitForExitAsync();
        await Api(api, "POST", "v1/domains", DaemonClient.Xml(GuestXml("warm", Path.Combine(root, "warm.serial"))));
        await Api(api, "POST", "v1/domains/warm/start");
        await Api(api, "POST", "v1/domains/warm/destroy");
    }
    for (int i = 0; i < reps; i++)
    {
        // raw
        var sw = Stopwatch.StartNew();
        var raw = await RawStart($"s{i}");
        rawRun.Add(raw.RunningMs);
        await WaitForFile(raw.Serial, "", sw); rawLine.Add(sw.Elapsed.TotalMilliseconds);
        await WaitForFile(raw.Serial, "VIREO-GUEST-READY", sw);
        if (i == 0) rawRss = RssMiB(raw.Pid);
        if (i % 2 == 0) rawDestroy.Add(await RawDestroy(raw.P));
        else { await Task.Delay(300); rawOff.Add(await RawPowerdown(raw.Qmp, raw.P)); }

        // vireo
        var name = $"s{i}";
        var serial = Path.Combine(root, $"v-{name}.serial");
        File.Delete(serial);
        await Api(api, "POST", "v1/domains", DaemonClient.Xml(GuestXml(name, serial)));
        sw = Stopwatch.StartNew();
        await Api(api, "POST", $"v1/domains/{name}/start");
        vRun.Add(sw.Elapsed.TotalMilliseconds);
        await WaitForFile(serial, "", sw); vLine.Add(sw.Elapsed.TotalMilliseconds);
        await WaitForFile(serial, "VIREO-GUEST-READY", sw);
        if (i == 0) vRss = Directory.EnumerateFiles(Path.Combine(root, "launch" + (reps - 1), "run", "qemu"), "*.xml").Select(f => int.Parse(System.Xml.Linq.XElement.Load(f).Attribute("pid")!.Value)).Select(RssMiB).First();
        if (i % 2 == 0) vDestroy.Add(await Api(api, "POST", $"v1/domains/{name}/destroy"));
        else { await Task.Delay(300); vOff.Add(await Api(api, "POST", $"v1/domains/{name}/shutdown")); }
        Console.Error.WriteLine($"bench: start round {i + 1}/{reps} done");
    }
    rows.Add(("start → QEMU running", Ms(Median(rawRun)), Ms(Median(vRun)), "≤ 1.5× raw"));
    rows.Add(("start → first guest serial line", Ms(Median(rawLine)), Ms(Median(vLine)), "≤ raw + 0.05 s"));
    rows.Add(("destroy a running guest", Ms(Median(rawDestroy)), Ms(Median(vDestroy)), "≤ 20 ms"));
    rows.Add(("ACPI shutdown → stopped (incl. the guest's own poweroff)", Ms(Median(rawOff)), Ms(Median(vOff)), "≤ raw + 20 ms"));
    rows.Add(("QEMU RSS per 128 MiB TCG guest", $"{rawRss:0.0} MiB", $"{vRss:0.0} MiB", "no worse"));

    // 4. daemon RSS with 200 defined + 5 running.
    var five = Enumerable.Range(0, 5).Select(i => $"d{i:0000}").ToList();
    foreach (var n in five) await Api(api, "POST", $"v1/domains/{n}/start");
    await Task.Delay(500);
    var rss205 = RssMiB(daemon.Id);
    foreach (var n in five) await Api(api, "POST", $"v1/domains/{n}/destroy");
    rows.Add(("daemon RSS idle / 200 defined / +5 running", "—", $"{rssIdle:0.0} / {rss200:0.0} / {rss205:0.0} MiB", "≤ 1.5× libvirtd (46 / 54 / 60)"));

    // 5. 1000 defined.
    for (int i = 200; i < 1000; i++)
        await Api(api, "POST", "v1/domains", DaemonClient.Xml(GuestXml($"d{i:0000}", Path.Combine(root, $"d{i}.serial"))));
    var list1000 = new List<double>(); var list1000Api = new List<double>();
    for (int i = 0; i < reps; i++) { list1000.Add(await Cli(sock, "list", "--all")); list1000Api.Add(await Api(api, "GET", "v1/domains")); }
    rows.Add(("list --all, 1000 defined (CLI / API)", "—", $"{Ms(Median(list1000))} / {Ms(Median(list1000Api))}", "≤ 60 ms; API ≤ 10 ms"));

    // 6. 10 in parallel: returned, and all guests up; raw first.
    {
        var sw = Stopwatch.StartNew();
        var raws = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => RawStart($"p{i}")));
        await Task.WhenAll(raws.Select(r => WaitForFile(r.Serial, "VIREO-GUEST-BOOTED", sw, 300)));
        var rawAll = sw.Elapsed.TotalMilliseconds;
        foreach (var r in raws) { r.P.Kill(); await r.P.WaitForExitAsync(); }
        var names = Enumerable.Range(0, 10).Select(i => $"p{i}").ToList();
        foreach (var n in names) await Api(api, "POST", "v1/domains", DaemonClient.Xml(GuestXml(n, Path.Combine(root, $"v-{n}.serial"))));
        sw = Stopwatch.StartNew();
        await Task.WhenAll(names.Select(n => Api(api, "POST", $"v1/domains/{n}/start")));
        var returned = sw.Elapsed.TotalMilliseconds;
        await Task.WhenAll(names.Select(n => WaitForFile(Path.Combine(root, $"v-{n}.serial"), "VIREO-GUEST-BOOTED", sw, 300)));
        var vAll = sw.Elapsed.TotalMilliseconds;
        foreach (var n in names) await Api(api, "POST", $"v1/domains/{n}/destroy");
        rows.Add(("10 starts in parallel, all returned", "—", Ms(returned), "≤ 0.5 s"));
        rows.Add(("10 in parallel, all guests up (marker)", Ms(rawAll), Ms(vAll), "≤ raw + 0.5 s"));
    }

    // 7. Storage: volumes, linked clones, snapshots of a running guest.
    await StorageBench(api, Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(sock))!, "data", "images"));
  }
    // 8. Networks, in a namespace of the bench's own (never on the host's links).
    if (!storageOnly && !vsLibvirt) await NetworkBench();

    Console.WriteLine();
    Console.WriteLine($"Vireo benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} CPUs, medians of {reps}");
    var w0 = rows.Max(r => r.Figure.Length); var w1 = Math.Max(9, rows.Max(r => r.Raw.Length)); var w2 = rows.Max(r => r.Vireo.Length);
    Console.WriteLine($"{"figure".PadRight(w0)}  {(vsLibvirt ? "libvirtd" : "raw QEMU").PadRight(w1)}  {"Vireo".PadRight(w2)}  target");
    Console.WriteLine(new string('-', w0 + w1 + w2 + 30));
    foreach (var r in rows) Console.WriteLine($"{r.Figure.PadRight(w0)}  {r.Raw.PadRight(w1)}  {r.Vireo.PadRight(w2)}  {r.Target}");
}
finally
{
    await Cleanup();
}

async Task Cleanup()
{
    if (Interlocked.Exchange(ref cleaned, 1) == 1) return;
    if (netns is not null)
    {
        var pids = await Run("ip", "netns", "pids", netns);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            try { using var p = Process.GetProcessById(int.Parse(pid)); p.Kill(); } catch (ArgumentException) { }
        await Task.Delay(300);
        await Run("ip", "netns", "del", netns);
    }
    foreach (var pid in cleanup)
        try { using var p = Process.GetProcessById(pid); if (!p.HasExited) p.Kill(); } catch (ArgumentException) { }
    // QEMUs started by the bench daemons: their pids are in the run dirs.
    foreach (var f in Directory.EnumerateFiles(root, "*.xml", SearchOption.AllDirectories).Where(f => f.Contains("/run/qemu/")))
        try { var pid = int.Parse(System.Xml.Linq.XElement.Load(f).Attribute("pid")!.Value); using var p = Process.GetProcessById(pid); p.Kill(); } catch (Exception) { }
    await Task.Delay(300);
    try { Directory.Delete(root, true); } catch (IOException) { }
}

async Task<string> Run(params string[] a)
{
    var psi = new ProcessStartInfo(a[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var x in a.Skip(1)) psi.ArgumentList.Add(x);
    using var p = Process.Start(psi)!;
    var o = await p.StandardOutput.ReadToEndAsync();
    await p.WaitForExitAsync();
    return o;
}

async Task NetworkBench()
{
    netns = $"vbench{Environment.ProcessId}";
    await Run("ip", "netns", "add", netns);
    await Run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up");
    var dir = Path.Combine(root, "net");
    var sock = Path.Combine(dir, "run", "vireo.sock");
    File.SetUnixFileMode(root, (UnixFileMode)0x1ed);
    var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in new[] { "netns", "exec", netns, binary, "daemon", "--config-dir", Path.Combine(dir, "etc"), "--run-dir", Path.Combine(dir, "run"), "--data-dir", Path.Combine(dir, "data") }) psi.ArgumentList.Add(a);
    var daemon = Process.Start(psi)!;
    daemon.OutputDataReceived += (_, _) => { };
    daemon.ErrorDataReceived += (_, _) => { };
    daemon.BeginOutputReadLine();
    daemon.BeginErrorReadLine();
    cleanup.Add(daemon.Id);
    await FirstAnswer(sock, Stopwatch.StartNew());
    using var api = Http(sock);
    const string net = "<network><name>default</name><bridge name='virbr0'/><forward/><ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip></network>";
    await Api(api, "POST", "v1/networks", DaemonClient.Xml(net));
    // dnsmasq serves DHCP once it has port 67 open; its own /proc/PID/net/udp shows its namespace.
    bool DhcpReady()
    {
        var st = Path.Combine(dir, "run", "network", "default.xml");
        try
        {
            var pid = System.Xml.Linq.XElement.Load(st).Attribute("dnsmasq-pid")?.Value;
            return pid is not null && File.ReadAllText($"/proc/{pid}/net/udp").Contains(":0043 ");
        }
        catch (Exception e) when (e is IOException or System.Xml.XmlException) { return false; }
    }
    var starts = new List<double>(); var ready = new List<double>(); var destroys = new List<double>();
    await Api(api, "POST", "v1/networks/default/start"); // warm-up
    await Api(api, "POST", "v1/networks/default/destroy");
    for (int i = 0; i < reps; i++)
    {
        var sw = Stopwatch.StartNew();
        await Api(api, "POST", "v1/networks/default/start");
        starts.Add(sw.Elapsed.TotalMilliseconds);
        while (!DhcpReady()) await Task.Delay(1);
        ready.Add(sw.Elapsed.TotalMilliseconds);
        await Task.Delay(200);
        destroys.Add(await Api(api, "POST", "v1/networks/default/destroy"));
    }
    rows.Add(("NAT network start (bridge + dnsmasq + rules)", "—", Ms(Median(starts)), "≤ 60 ms"));
    rows.Add(("net-start → DHCP ready (dnsmasq on port 67)", "—", Ms(Median(ready)), "—"));
    rows.Add(("NAT network destroy", "—", Ms(Median(destroys)), "≤ 50 ms"));
    await Api(api, "POST", "v1/networks/default/start");

    string NetGuest(string name, int nics, string serial) => GuestXml(name, serial)
        .Replace("quiet panic=-1", "quiet panic=-1 vireo.dhcp=eth0")
        .Replace("<devices>", "<devices>" + string.Concat(Enumerable.Range(0, nics).Select(_ => "<interface type='network'><source network='default'/><model type='virtio'/></interface>")));
    // Per-NIC cost of a start: a guest with 4 NICs against the same guest with none.
    var none = new List<double>(); var four = new List<double>();
    await Api(api, "POST", "v1/domains", DaemonClient.Xml(NetGuest("n0", 0, Path.Combine(root, "n0.serial"))));
    await Api(api, "POST", "v1/domains", DaemonClient.Xml(NetGuest("n4", 4, Path.Combine(root, "n4.serial"))));
    await Api(api, "POST", "v1/domains/n4/start"); await Api(api, "POST", "v1/domains/n4/destroy");
    for (int i = 0; i < reps; i++)
    {
        none.Add(await Api(api, "POST", "v1/domains/n0/start")); await Api(api, "POST", "v1/domains/n0/destroy");
        four.Add(await Api(api, "POST", "v1/domains/n4/start")); await Api(api, "POST", "v1/domains/n4/destroy");
    }
    rows.Add(("start, per NIC on a NAT network (4 NICs vs none)", "—", Ms((Median(four) - Median(none)) / 4), "—"));

    // One guest: start → lease, beside start → its NIC seen (boot up to DHCP).
    var lease1 = new List<double>(); var nic1 = new List<double>();
    for (int i = 0; i < Math.Min(reps, 3); i++)
    {
        var serial = Path.Combine(root, $"l{i}.serial");
        await Api(api, "POST", "v1/domains", DaemonClient.Xml(NetGuest($"l{i}", 1, serial)));
        var sw = Stopwatch.StartNew();
        await Api(api, "POST", $"v1/domains/l{i}/start");
        await WaitForFile(serial, "VIREO-GUEST: nic eth0", sw, 300); nic1.Add(sw.Elapsed.TotalMilliseconds);
        await WaitForFile(serial, "VIREO-GUEST: lease eth0", sw, 300); lease1.Add(sw.Elapsed.TotalMilliseconds);
        await Api(api, "POST", $"v1/domains/l{i}/destroy");
    }
    rows.Add(("start → guest holds a DHCP lease (first run included)", "—", $"{Ms(Median(lease1))} (NIC up at {Ms(Median(nic1))}: DHCP {Ms(Median(lease1) - Median(nic1))})", "≤ guest boot + 0.5 s"));

    // Ten guests on one network, started together, until all hold a lease.
    {
        var names = Enumerable.Range(0, 10).Select(i => $"t{i}").ToList();
        foreach (var n in names) await Api(api, "POST", "v1/domains", DaemonClient.Xml(NetGuest(n, 1, Path.Combine(root, $"{n}.serial"))));
        var sw = Stopwatch.StartNew();
        await Task.WhenAll(names.Select(n => Api(api, "POST", $"v1/domains/{n}/start")));
        await Task.WhenAll(names.Select(n => WaitForFile(Path.Combine(root, $"{n}.serial"), "VIREO-GUEST: nic eth0", sw, 600)));
        var nics = sw.Elapsed.TotalMilliseconds;
        try
        {
            await Task.WhenAll(names.Select(n => WaitForFile(Path.Combine(root, $"{n}.serial"), "VIREO-GUEST: lease eth0", sw, 600)));
            rows.Add(("10 guests on one network until all hold a lease", "—", $"{Ms(sw.Elapsed.TotalMilliseconds)} (all NICs up at {Ms(nics)})", "—"));
        }
        catch (TimeoutException)
        {
            var got = names.Count(n => File.ReadAllText(Path.Combine(root, $"{n}.serial")).Contains("VIREO-GUEST: lease eth0"));
            rows.Add(("10 guests on one network until all hold a lease", "—", $"only {got}/10 within 600 s (the guests' DHCP client gave up)", "—"));
        }
        foreach (var n in names) await Api(api, "POST", $"v1/domains/{n}/destroy");
    }
    await Api(api, "POST", "v1/networks/default/destroy");
}

// Volume creation per format and preallocation mode (1 GiB) and a linked clone, beside qemu-img
// run by hand; snapshot create / revert of a running 256 MiB guest.
async Task StorageBench(HttpClient api, string images)
{
    string VolXml(string name, string fmt, string? backing = null) =>
        $"<volume><name>{name}</name><capacity unit='G'>{(backing is null ? 1 : 0)}</capacity><target><format type='{fmt}'/></target>" +
        (backing is null ? "" : $"<backingStore><path>{backing}</path><format type='qcow2'/></backingStore>") + "</volume>";
    async Task<double> QemuImgRun(params string[] a)
    {
        var sw = Stopwatch.StartNew();
        await Run(["qemu-img", .. a]);
        return sw.Elapsed.TotalMilliseconds;
    }
    var rawDir = Path.Combine(root, "qemu-img");
    Directory.CreateDirectory(rawDir);
    foreach (var (fmt, mode) in new[] { ("raw", "off"), ("raw", "falloc"), ("raw", "full"), ("qcow2", "off"), ("qcow2", "metadata"), ("qcow2", "falloc"), ("qcow2", "full") })
    {
        var raw = new List<double>();
        var vireo = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            var f = Path.Combine(rawDir, $"v.{fmt}");
            raw.Add(await QemuImgRun("create", "-q", "-f", fmt, "-o", $"preallocation={mode}", f, "1G"));
            File.Delete(f);
            vireo.Add(await Api(api, "POST", $"v1/pools/default/volumes?prealloc={mode}", DaemonClient.Xml(VolXml($"v.{fmt}", fmt))));
            await Api(api, "DELETE", $"v1/pools/default/volumes/v.{fmt}");
        }
        rows.Add(($"volume create, 1 GiB {fmt}, preallocation {mode}", Ms(Median(raw)), Ms(Median(vireo)), "≈ qemu-img"));
    }
    {
        await Api(api, "POST", "v1/pools/default/volumes", DaemonClient.Xml(VolXml("base.qcow2", "qcow2")));
        var baseRaw = Path.Combine(rawDir, "base.qcow2");
        await Run("qemu-img", "create", "-q", "-f", "qcow2", baseRaw, "1G");
        var raw = new List<double>();
        var vireo = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            var f = Path.Combine(rawDir, "clone.qcow2");
            raw.Add(await QemuImgRun("create", "-q", "-f", "qcow2", "-b", baseRaw, "-F", "qcow2", f));
            File.Delete(f);
            vireo.Add(await Api(api, "POST", "v1/pools/default/volumes", DaemonClient.Xml(VolXml("clone.qcow2", "qcow2", Path.Combine(images, "base.qcow2")))));
            await Api(api, "DELETE", "v1/pools/default/volumes/clone.qcow2");
        }
        rows.Add(("linked clone (qcow2 on a 1 GiB base)", Ms(Median(raw)), Ms(Median(vireo)), "≈ qemu-img"));
    }
    {
        // vireo clone of a shut-off domain with one 1 GiB qcow2 disk holding 64 MiB of data,
        // beside qemu-img convert (copy) and qemu-img create -b (linked) by hand.
        await Api(api, "POST", "v1/pools/default/volumes", DaemonClient.Xml(VolXml("cbase.qcow2", "qcow2")));
        var cbase = Path.Combine(images, "cbase.qcow2");
        await Run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64M", cbase);
        var xml = GuestXml("cbase", Path.Combine(root, "cbase.serial"))
            .Replace("<devices>", "<devices><disk type='volume' device='disk'><source pool='default' volume='cbase.qcow2'/><target dev='vda' bus='virtio'/></disk>");
        await Api(api, "POST", "v1/domains", DaemonClient.Xml(xml));
        foreach (var (mode, label) in new[] { ("copy", "clone, 1 GiB qcow2 disk with 64 MiB data (copy)"), ("linked", "clone, same disk (linked)") })
        {
            var raw = new List<double>();
            var vireo = new List<double>();
            for (var i = 0; i < reps; i++)
            {
                var f = Path.Combine(rawDir, "c.qcow2");
                raw.Add(mode == "copy"
                    ? await QemuImgRun("convert", "-f", "qcow2", "-O", "qcow2", cbase, f)
                    : await QemuImgRun("create", "-q", "-f", "qcow2", "-b", cbase, "-F", "qcow2", f));
                File.Delete(f);
                var body = new Body(Encoding.UTF8.GetBytes($"{{\"name\":\"c{i}\",\"autoClone\":true,\"files\":[],\"mode\":\"{mode}\",\"macs\":[]}}"), "application/json");
                vireo.Add(await Json(api, "POST", "v1/domains/cbase/clone", body));
                await Api(api, "DELETE", $"v1/domains/c{i}?removeAllStorage=true");
            }
            rows.Add((label, Ms(Median(raw)), Ms(Median(vireo)), "≈ qemu-img"));
        }
        await Api(api, "DELETE", "v1/domains/cbase");
    }
    {
        await Api(api, "POST", "v1/pools/default/volumes", DaemonClient.Xml(VolXml("snap.qcow2", "qcow2")));
        var serial = Path.Combine(root, "snap.serial");
        var xml = GuestXml("snapper", serial).Replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>256</memory>")
            .Replace("<devices>", "<devices><disk type='volume' device='disk'><source pool='default' volume='snap.qcow2'/><target dev='vda' bus='virtio'/></disk>");
        await Api(api, "POST", "v1/domains", DaemonClient.Xml(xml));
        await Api(api, "POST", "v1/domains/snapper/start");
        await WaitForFile(serial, "VIREO-GUEST-READY", Stopwatch.StartNew(), 300);
        var create = new List<double>();
        var revert = new List<double>();
        var external = new List<double>();
        for (var i = 0; i < reps; i++)
        {
            var body = new Body(Encoding.UTF8.GetBytes($"{{\"name\":\"s{i}\",\"diskOnly\":false}}"), "application/json");
            create.Add(await Json(api, "POST", "v1/domains/snapper/snapshots", body));
            revert.Add(await Api(api, "POST", $"v1/domains/snapper/snapshots/s{i}/revert"));
        }
        for (var i = 0; i < reps; i++) await Api(api, "POST", $"v1/domains/snapper/snapshots/s{i}/delete");
        for (var i = 0; i < reps; i++)
        {
            var body = new Body(Encoding.UTF8.GetBytes($"{{\"name\":\"e{i}\",\"diskOnly\":true}}"), "application/json");
            external.Add(await Json(api, "POST", "v1/domains/snapper/snapshots", body));
        }
        for (var i = reps - 1; i >= 0; i--) await Api(api, "POST", $"v1/domains/snapper/snapshots/e{i}/delete");
        await Api(api, "POST", "v1/domains/snapper/destroy");
        rows.Add(("snapshot create, running 256 MiB guest (internal, with memory)", "—", Ms(Median(create)), "—"));
        rows.Add(("snapshot revert, running 256 MiB guest (internal, with memory)", "—", Ms(Median(revert)), "—"));
        rows.Add(("snapshot create, disk-only (external overlay), running guest", "—", Ms(Median(external)), "—"));
    }
}

async Task<double> Json(HttpClient c, string method, string path, Body body)
{
    var sw = Stopwatch.StartNew();
    using var req = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body.Data) };
    req.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(body.Type);
    using var r = await c.SendAsync(req);
    var text = await r.Content.ReadAsStringAsync();
    if (!r.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path}: {(int)r.StatusCode} {text}");
    return sw.Elapsed.TotalMilliseconds;
}
