using System.Diagnostics;

namespace Vireo.IntegrationTests;

/// <summary>
/// A network namespace made by a test, with helpers to run commands in it and to wire veth
/// pairs between namespaces (this kernel has no dummy links). Disposing ends the processes
/// still inside it (all started by the test) and deletes it, so nothing is left on the host.
/// </summary>
public sealed class NetNs : IAsyncDisposable
{
    public string Name { get; }

    private NetNs(string name) => Name = name;

    public static async Task<NetNs> CreateAsync()
    {
        var ns = new NetNs($"vt{Guid.NewGuid():N}"[..10]);
        await Run("ip", "netns", "add", ns.Name);
        await ns.ExecOkAsync("ip", "link", "set", "lo", "up");
        return ns;
    }

    /// <summary>A veth pair with one end in each namespace, addressed and up.</summary>
    public static async Task VethAsync(NetNs a, string nameA, string? addrA, NetNs b, string nameB, string? addrB)
    {
        await Run("ip", "link", "add", nameA, "netns", a.Name, "type", "veth", "peer", "name", nameB, "netns", b.Name);
        foreach (var (ns, name, addr) in new[] { (a, nameA, addrA), (b, nameB, addrB) })
        {
            if (addr is not null) await ns.ExecOkAsync("ip", "addr", "add", addr, "dev", name);
            await ns.ExecOkAsync("ip", "link", "set", name, "up");
        }
    }

    public Task<(int Code, string Out, string Err)> ExecAsync(params string[] cmd) => Run("ip", ["netns", "exec", Name, .. cmd], check: false);

    public async Task<string> ExecOkAsync(params string[] cmd) => (await Run("ip", ["netns", "exec", Name, .. cmd])).Out;

    /// <summary>Starts a long-running process inside the namespace (a listener); ended on dispose.</summary>
    public Process Spawn(params string[] cmd)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", Name }.Concat(cmd)) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    /// <summary>Runs a program to its end: its exit code, output and errors (with check, a failure throws).</summary>
    internal static async Task<(int Code, string Out, string Err)> Run(string program, string[] args, bool check = true)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (check && p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({p.ExitCode}): {await e}");
        return (p.ExitCode, await o, await e);
    }

    private static Task<(int Code, string Out, string Err)> Run(params string[] args) => Run(args[0], args[1..]);

    public async ValueTask DisposeAsync()
    {
        // Whatever still runs inside was started by the test (daemon, dnsmasq, QEMU, listeners).
        var (_, pids, _) = await Run("ip", ["netns", "pids", Name], check: false);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse))
        {
            try { Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        }
        for (int i = 0; i < 100; i++)
        {
            var (_, left, _) = await Run("ip", ["netns", "pids", Name], check: false);
            if (string.IsNullOrWhiteSpace(left)) break;
            await Task.Delay(20);
        }
        await Run("ip", ["netns", "del", Name], check: false);
    }
}
