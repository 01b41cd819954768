using Vireo.Engine;
using Vireo.Host;
using Vireo.Model;
using Vireo.Qemu;

namespace Vireo.Tests;

public class FirmwareTests
{
    // Debian 12's ovmf descriptors, trimmed to what matters.
    private static FirmwareDescriptor D(string file, string code, string vars, string machines, params string[] features) =>
        FirmwareDescriptor.Parse(file, $$"""
            { "description": "x", "interface-types": ["uefi"],
              "mapping": { "device": "flash", "executable": { "filename": "{{code}}", "format": "raw" },
                           "nvram-template": { "filename": "{{vars}}", "format": "raw" } },
              "targets": [ { "architecture": "x86_64", "machines": [{{machines}}] } ],
              "features": [{{string.Join(",", features.Select(f => $"\"{f}\""))}}] }
            """)!;

    private static readonly IReadOnlyList<FirmwareDescriptor> Debian =
    [
        D("40-edk2-x86_64-secure-enrolled.json", "/ovmf/CODE.secboot.fd", "/ovmf/VARS.ms.fd", "\"pc-q35-*\"", "acpi-s3", "enrolled-keys", "requires-smm", "secure-boot"),
        D("50-edk2-x86_64-secure.json", "/ovmf/CODE.secboot.fd", "/ovmf/VARS.fd", "\"pc-q35-*\"", "acpi-s3", "requires-smm", "secure-boot"),
        D("60-edk2-x86_64.json", "/ovmf/CODE.fd", "/ovmf/VARS.fd", "\"pc-i440fx-*\", \"pc-q35-*\"", "acpi-s3"),
    ];

    private static DomainDef Efi(string machine, params (string, bool)[] features) =>
        new() { Name = "vm", Os = new OsDef { Machine = machine, Firmware = "efi", FirmwareFeatures = [.. features] } };

    [Fact]
    public void Plain_efi_picks_what_libvirt_picks_secure_boot_with_microsofts_keys_on_q35()
    {
        // libvirt 9.0 takes the first descriptor for the machine: on q35 Debian's 40-…-secure-enrolled.
        var d = Efi("q35");
        FirmwareSelect.Apply(d, Debian, "/var/lib/vireo/nvram");
        Assert.Equal("/ovmf/CODE.secboot.fd", d.Os.Loader!.Path);
        Assert.True(d.Os.Loader.Secure);
        Assert.Equal("/ovmf/VARS.ms.fd", d.Os.Nvram!.Template);
        Assert.Equal("/var/lib/vireo/nvram/vm_VARS.fd", d.Os.Nvram.Path);
        Assert.True(d.Features.Smm);
        // Without Secure Boot when asked so; on pc there is none anyway.
        var plain = Efi("q35", ("secure-boot", false));
        FirmwareSelect.Apply(plain, Debian, "/n");
        Assert.Equal("/ovmf/CODE.fd", plain.Os.Loader!.Path);
        Assert.False(plain.Os.Loader.Secure);
        Assert.Null(plain.Features.Smm);
        var pc = Efi("pc-i440fx-7.2");
        FirmwareSelect.Apply(pc, Debian, "/n");
        Assert.Equal("/ovmf/CODE.fd", pc.Os.Loader!.Path);
    }

    [Fact]
    public void Secure_boot_when_asked_takes_smm_and_the_enrolled_keys_first()
    {
        var d = Efi("q35", ("secure-boot", true));
        FirmwareSelect.Apply(d, Debian, "/n");
        Assert.Equal("/ovmf/CODE.secboot.fd", d.Os.Loader!.Path);
        Assert.True(d.Os.Loader.Secure);
        Assert.Equal("/ovmf/VARS.ms.fd", d.Os.Nvram!.Template);
        Assert.True(d.Features.Smm);
        var noKeys = Efi("q35", ("secure-boot", true), ("enrolled-keys", false));
        FirmwareSelect.Apply(noKeys, Debian, "/n");
        Assert.Equal("/ovmf/VARS.fd", noKeys.Os.Nvram!.Template);

        var argv = QemuArgv.Build(DomainRules.ParseForDefine(DomainXml.Write(WithBasics(d))), new LaunchContext { Emulator = "/q", MonitorFd = 3, ChannelDir = "/c" });
        var machine = argv[argv.IndexOf("-machine") + 1];
        Assert.Contains(",smm=on", machine);
        Assert.Contains(",pflash0=pflash0-format,pflash1=pflash1-format", machine);
        Assert.Contains("""{"driver":"file","filename":"/ovmf/CODE.secboot.fd","node-name":"pflash0-storage","read-only":true}""", argv);
        Assert.Contains("""{"driver":"file","filename":"/n/vm_VARS.fd","node-name":"pflash1-storage","read-only":false}""", argv);
        Assert.Contains("driver=cfi.pflash01,property=secure,value=on", argv);
    }

    private static DomainDef WithBasics(DomainDef d) { d.MemoryKiB = d.CurrentMemoryKiB = 131072; return d; }

    [Theory]
    [InlineData("pc", "secure-boot", "Secure Boot needs the q35 machine type (its firmware needs SMM); this domain uses 'pc'. Use --machine q35.")]
    [InlineData("q35", "enrolled-keys", "Firmware feature 'enrolled-keys' needs 'secure-boot' enabled too.")]
    [InlineData("microvm", "", "No UEFI firmware for machine 'microvm' among 3 descriptors in /etc/qemu/firmware or /usr/share/qemu/firmware.")]
    public void Impossible_choices_are_named(string machine, string feature, string message)
    {
        // enrolled-keys: asked for with Secure Boot turned off.
        var d = feature == "enrolled-keys" ? Efi(machine, ("secure-boot", false), (feature, true))
            : feature.Length > 0 ? Efi(machine, (feature, true)) : Efi(machine);
        Assert.Equal(message, Assert.Throws<VireoException>(() => FirmwareSelect.Apply(d, Debian, "/n")).Message);
    }

    [Fact]
    public void Loader_and_nvram_round_trip_as_libvirt_writes_them()
    {
        var xml = """
            <domain type='qemu'><name>x</name><memory unit='MiB'>64</memory>
              <os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type>
                <firmware><feature enabled='yes' name='secure-boot'/></firmware>
                <loader readonly='yes' secure='yes' type='pflash'>/c.fd</loader>
                <nvram template='/t.fd'>/n/x_VARS.fd</nvram></os>
              <features><smm state='on'/></features></domain>
            """;
        var d = DomainXml.Parse(xml);
        Assert.Equal(("secure-boot", true), d.Os.FirmwareFeatures.Single());
        Assert.True(d.Os.Loader!.Secure);
        var again = DomainXml.Write(d);
        Assert.Contains("<loader readonly='yes' secure='yes' type='pflash'>/c.fd</loader>", again);
        Assert.Contains("<nvram template='/t.fd'>/n/x_VARS.fd</nvram>", again);
        Assert.Contains("<smm state='on'/>", again);
        Assert.Contains("<os firmware='efi'>", again);
    }

    [Fact]
    public void The_installed_descriptors_parse()
    {
        // Debian's ovmf package (installed by scripts/setup.sh): at least the plain one for q35.
        var all = FirmwareDescriptor.LoadAll();
        Assert.Contains(all, f => !f.Has("secure-boot") && f.Supports("q35") && File.Exists(f.Code));
    }
}
