using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Tests;

public class QemuArgvTests
{
    private static LaunchContext Ctx(DomainDef d, bool vhost = false) => new()
    {
        Emulator = d.Devices.Emulator ?? "/usr/bin/qemu-system-x86_64",
        MonitorFd = 3,
        VhostNet = vhost,
        ChannelDir = $"/run/vireo/qemu/channel/{d.Name}",
    };

    [Theory]
    [MemberData(nameof(GoldenFiles.Inputs), MemberType = typeof(GoldenFiles))]
    public void Argv_matches_golden_file(string name)
    {
        var d = DomainRules.ParseForDefine(GoldenFiles.Read(name + ".xml"));
        var argv = QemuArgv.Build(d, Ctx(d));
        GoldenFiles.Check(name + ".args", string.Join("\n", argv) + "\n");
    }

    [Fact]
    public void Tcg_uses_multithreaded_tcg_and_kvm_uses_kvm()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory></domain>");
        var argv = QemuArgv.Build(d, Ctx(d));
        Assert.Equal("tcg,thread=multi", argv[argv.IndexOf("-accel") + 1]);
        d.Type = "kvm";
        argv = QemuArgv.Build(d, Ctx(d));
        Assert.Equal("kvm", argv[argv.IndexOf("-accel") + 1]);
    }

    [Fact]
    public void A_sandboxed_guest_gets_libvirts_seccomp_options_and_an_unsandboxed_one_none()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory></domain>");
        var argv = QemuArgv.Build(d, Ctx(d) with { Sandbox = true });
        Assert.Equal("on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny", argv[argv.IndexOf("-sandbox") + 1]);
        Assert.Single(argv, "-sandbox");
        Assert.DoesNotContain("-sandbox", QemuArgv.Build(d, Ctx(d)));
    }

    [Fact]
    public void Host_passthrough_under_tcg_is_refused_with_a_fix()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory><cpu mode='host-passthrough'/></domain>");
        var e = Assert.Throws<LaunchException>(() => QemuArgv.Build(d, Ctx(d)));
        Assert.Contains("needs KVM", e.Message);
        Assert.Contains("host-model", e.Message);
    }

    [Fact]
    public void Host_model_under_tcg_is_max()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory><cpu mode='host-model'/></domain>");
        var argv = QemuArgv.Build(d, Ctx(d));
        Assert.Equal("max", argv[argv.IndexOf("-cpu") + 1]);
    }

    [Fact]
    public void Vhost_is_requested_only_when_the_host_has_it()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory><devices><interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface></devices></domain>");
        var alias = d.Devices.Interfaces[0].Alias!;
        var without = QemuArgv.Build(d, Ctx(d) with { TapFds = new Dictionary<string, int> { [alias] = 7 } });
        Assert.Contains("tap,fd=7,id=hostnet0", without);
        var with = QemuArgv.Build(d, Ctx(d, vhost: true) with { TapFds = new Dictionary<string, int> { [alias] = 7 } });
        Assert.Contains("tap,fd=7,id=hostnet0,vhost=on", with);
    }

    [Fact]
    public void Host_networking_without_a_tap_is_a_clear_error()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory><devices><interface type='network'><source network='default'/></interface></devices></domain>");
        var e = Assert.Throws<LaunchException>(() => QemuArgv.Build(d, Ctx(d)));
        Assert.Contains("Interface 'net0' of type 'network'", e.Message);
    }

    [Fact]
    public void User_mode_port_forwards_become_hostfwd_entries()
    {
        var d = DomainRules.ParseForDefine("""
            <domain type='qemu'><name>a</name><memory>65536</memory><devices><interface type='user'>
              <portForward proto='tcp' address='127.0.0.1'><range start='2222' to='22'/><range start='8080' end='8081' to='80'/></portForward>
              <portForward proto='udp' address='::1'><range start='53'/></portForward>
            </interface></devices></domain>
            """);
        var argv = QemuArgv.Build(d, Ctx(d));
        Assert.Contains("user,id=hostnet0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:8081-:81,hostfwd=udp:[::1]:53-:53", argv);
    }

    [Fact]
    public void Commas_in_paths_are_escaped()
    {
        var d = DomainRules.ParseForDefine("<domain type='qemu'><name>a</name><memory>65536</memory><devices><serial type='file'><source path='/tmp/a,b.log'/></serial></devices></domain>");
        var argv = QemuArgv.Build(d, Ctx(d));
        Assert.Contains("file,id=charserial0,path=/tmp/a,,b.log", argv);
    }

    [Fact]
    public void Printable_quotes_what_a_shell_would_split()
    {
        Assert.Equal("qemu -append 'console=ttyS0 quiet' -device '{\"a\":1}'",
            QemuArgv.Printable(["qemu", "-append", "console=ttyS0 quiet", "-device", "{\"a\":1}"]));
    }
}
