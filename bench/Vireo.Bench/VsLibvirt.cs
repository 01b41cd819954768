using System.Diagnostics;

/// <summary>
/// The same client (Debian's virsh), the same calls, against libvirtd and against Vireo's
/// libvirt protocol socket, interleaved, with Vireo's own CLI beside them. libvirtd is the one
/// <c>../shared/tools/libvirt-reference.sh up</c> leaves running (qemu:///system); its domains
/// here are the bench's own (vbench-*), removed at the end with everything else.
/// </summary>
internal static class VsLibvirt
{
    private const string Libvirt = "qemu:///system";

    /// <param name="startDaemon">The bench's daemon starter: a name (its directory under <paramref name="root"/>) and extra options.</param>
    public static async Task RunAsync(string vireo, string guestDir, string root, int reps, List<(string Figure, string Raw, string Vireo, string Target)> rows,
        Func<string, string[], Process> startDaemon)
    {
        if ((await Run("virsh", "-c", Libvirt, "version")).Code != 0)
        {
            Console.Error.WriteLine("bench: no libvirtd answers on qemu:///system; run ../shared/tools/libvirt-reference.sh up first (and down after)");
            return;
        }
        var refGuest = "/var/lib/libvirt/anchor"; // the reference's guest, readable by libvirt's qemu user
        var dir = Directory.CreateDirectory(Path.Combine(root, "vs-libvirt")).FullName;
        var sock = Path.Combine(dir, "lv.sock");
        var daemon = startDaemon("vs-libvirt", ["--web", "none", "--libvirt-listen", "unix:" + sock, "--libvirt-listen-ro", "unix:" + sock + "-ro"]);
        var vproto = $"qemu+unix:///system?socket={sock}";
        for (var i = 0; i < 500 && !File.Exists(sock); i++) await Task.Delay(10);
        var vsock = "unix:" + Path.Combine(dir, "run", "vireo.sock");

        string Xml(string name, string kernelDir) => $"""
            <domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type><kernel>{kernelDir}/vmlinuz</kernel><initrd>{kernelDir}/{(kernelDir == refGuest ? "initrd.gz" : "initrd.img")}</initrd>
              <cmdline>console=ttyS0 quiet panic=-1</cmdline></os><features><acpi/><apic/></features>
              <devices><serial type='pty'><target port='0'/></serial></devices></domain>
            """;
        const int n = 1000;
        try
        {
            // 1000 defined on each, through one virsh session apiece (commands on standard input).
            foreach (var (uri, kernels) in new[] { (Libvirt, refGuest), (vproto, guestDir) })
            {
                var cmds = new System.Text.StringBuilder();
                for (var i = 0; i < n; i++)
                {
                    var f = Path.Combine(dir, $"{(uri == Libvirt ? "l" : "v")}{i}.xml");
                    await File.WriteAllTextAsync(f, Xml($"vbench-{i:0000}", kernels));
                    cmds.Append("define ").Append(f).Append('\n');
                }
                var sw = Stopwatch.StartNew();
                var r = await Run("virsh", [ "-c", uri ], cmds.ToString());
                if (r.Code != 0) throw new InvalidOperationException($"virsh define x{n} on {uri}: {r.Err}");
                Console.Error.WriteLine($"bench: {n} defined on {uri} in {sw.Elapsed.TotalSeconds:0.0} s (one virsh session)");
            }

            var figures = new (string Figure, Func<string, string[]> Virsh, string[]? Cli)[]
            {
                ($"virsh list --all, {n} defined", _ => ["list", "--all"], ["list", "--all"]),
                ("virsh dominfo", _ => ["dominfo", "vbench-0500"], ["dominfo", "vbench-0500"]),
                ("virsh dumpxml", _ => ["dumpxml", "vbench-0500"], ["dumpxml", "vbench-0500"]),
                ("virsh domstate", _ => ["domstate", "vbench-0500"], ["domstate", "vbench-0500"]),
            };
            foreach (var (figure, args, cli) in figures)
            {
                var (l, v, c) = (new List<double>(), new List<double>(), new List<double>());
                for (var i = 0; i < reps * 3; i++) // short calls: more repetitions against the noise
                {
                    l.Add(await Timed("virsh", ["-c", Libvirt, .. args(Libvirt)]));
                    v.Add(await Timed("virsh", ["-c", vproto, .. args(vproto)]));
                    if (cli is not null) c.Add(await Timed(vireo, cli, vsock));
                }
                Add(rows, figure, l, v, c);
            }
            // The server's share alone: 200 calls in one virsh session, so virsh's own start-up (most of
            // a one-call figure) is paid once.
            foreach (var (figure, cmd) in new[] { ("200 × dominfo, one virsh session", "dominfo vbench-0500\n"), ("200 × domstate, one virsh session", "domstate vbench-0500\n") })
            {
                var (l, v) = (new List<double>(), new List<double>());
                var input = string.Concat(Enumerable.Repeat(cmd, 200));
                for (var i = 0; i < reps; i++)
                {
                    l.Add(await TimedSession(Libvirt, input));
                    v.Add(await TimedSession(vproto, input));
                }
                Add(rows, figure, l, v, []);
            }
            // define one more (and undefine it again) on each.
            {
                var (l, v, c) = (new List<double>(), new List<double>(), new List<double>());
                for (var i = 0; i < reps; i++)
                {
                    var lf = Path.Combine(dir, $"dl{i}.xml"); await File.WriteAllTextAsync(lf, Xml($"vbench-new{i}", refGuest));
                    var vf = Path.Combine(dir, $"dv{i}.xml"); await File.WriteAllTextAsync(vf, Xml($"vbench-new{i}", guestDir));
                    var cf = Path.Combine(dir, $"dc{i}.xml"); await File.WriteAllTextAsync(cf, Xml($"vbench-cli{i}", guestDir));
                    l.Add(await Timed("virsh", ["-c", Libvirt, "define", lf]));
                    v.Add(await Timed("virsh", ["-c", vproto, "define", vf]));
                    c.Add(await Timed(vireo, ["define", cf], vsock));
                }
                Add(rows, "virsh define", l, v, c);
            }
            // start and destroy one guest, over and over; one guest runs at a time, so each start has the same machine.
            {
                var (ls, vs, cs, ld, vd, cd) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
                async Task Cycle(List<double> starts, List<double> destroys, Func<string, Task<double>> run)
                {
                    starts.Add(await run("start"));
                    await Task.Delay(300); // the guest is booting, as it would be
                    destroys.Add(await run("destroy"));
                }
                for (var i = 0; i < reps; i++)
                {
                    await Cycle(ls, ld, verb => Timed("virsh", ["-c", Libvirt, verb, "vbench-0001"]));
                    await Cycle(vs, vd, verb => Timed("virsh", ["-c", vproto, verb, "vbench-0001"]));
                    await Cycle(cs, cd, verb => Timed(vireo, [verb, "vbench-0001"], vsock));
                }
                Add(rows, "virsh start", ls, vs, cs);
                Add(rows, "virsh destroy", ld, vd, cd);
            }
        }
        finally
        {
            // libvirtd's vbench-* domains go; Vireo's go with its daemon's directories.
            var names = (await Run("virsh", ["-c", Libvirt, "list", "--all", "--name"])).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Where(x => x.StartsWith("vbench-", StringComparison.Ordinal));
            await Run("virsh", ["-c", Libvirt], string.Concat(names.Select(x => $"destroy {x}\nundefine {x}\n")));
            try { daemon.Kill(); await daemon.WaitForExitAsync(); } catch (InvalidOperationException) { }
        }
    }

    private static void Add(List<(string, string, string, string)> rows, string figure, List<double> libvirt, List<double> proto, List<double> cli)
    {
        var (l, v) = (Median(libvirt), Median(proto));
        // Paired ratio: each repetition's Vireo time over the libvirt time measured next to it.
        var ratio = Median(libvirt.Zip(proto, (a, b) => b / a));
        rows.Add((figure, Ms(l), $"{Ms(v)} ({ratio:0.00}×){(cli.Count > 0 ? $"; vireo CLI {Ms(Median(cli))}" : "")}", "≤ 1.0× libvirtd"));
    }

    private static double Median(IEnumerable<double> xs)
    {
        var a = xs.Order().ToArray();
        return a.Length == 0 ? double.NaN : a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    private static string Ms(double ms) => ms >= 1000 ? $"{ms / 1000:0.00} s" : $"{ms:0.0} ms";

    private static async Task<double> TimedSession(string uri, string commands)
    {
        var sw = Stopwatch.StartNew();
        var r = await Run("virsh", ["-c", uri], commands);
        if (r.Code != 0) throw new InvalidOperationException($"virsh session on {uri}: {r.Err}");
        return sw.Elapsed.TotalMilliseconds;
    }

    private static async Task<double> Timed(string program, string[] args, string? connect = null)
    {
        var sw = Stopwatch.StartNew();
        var r = await Run(program, args, null, connect);
        if (r.Code != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)}: {r.Err}");
        return sw.Elapsed.TotalMilliseconds;
    }

    private static async Task<(int Code, string Out, string Err)> Run(string program, string[] args, string? stdin = null, string? connect = null)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (connect is not null) psi.Environment["VIREO_CONNECT"] = connect;
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        await p.WaitForExitAsync();
        return (p.ExitCode, await o, await e);
    }

    private static Task<(int Code, string Out, string Err)> Run(params string[] a) => Run(a[0], a[1..]);
}
