namespace Vireo.Model;

// Devices beyond disks, NICs and consoles: sound and audio back-ends, USB redirection, smart
// cards and hubs, TPM, watchdog, host devices, vsock, IOMMU and parallel ports.

/// <summary>&lt;sound model='ich9|ich6|ac97|usb|es1370|sb16|pcspk'&gt; with its codecs and the &lt;audio&gt; back-end it plays to.</summary>
public sealed class SoundDef
{
    public string Model { get; set; } = "ich6";
    public List<string> Codecs { get; set; } = [];      // duplex | micro | output
    public int? AudioId { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;audio id='1' type='none|spice|pulseaudio|alsa|oss|sdl|file|dbus|pipewire'&gt;: where guest sound goes (QEMU's -audiodev).</summary>
public sealed class AudioDef
{
    public int Id { get; set; }
    public string Type { get; set; } = "none";
    /// <summary>Attributes beyond id and type (timerPeriod, server, path) and children (input/output), kept as written.</summary>
    public List<KeyValuePair<string, string>> Attributes { get; set; } = [];
    public List<System.Xml.Linq.XElement> Children { get; set; } = [];
}

/// <summary>&lt;redirdev bus='usb' type='spicevmc|tcp'&gt;: a USB device the SPICE client (or a TCP peer) plugs into the guest.</summary>
public sealed class RedirdevDef
{
    public string Bus { get; set; } = "usb";
    public string Type { get; set; } = "spicevmc";
    public string? SourceHost { get; set; }            // tcp
    public string? SourceService { get; set; }
    public int? BootOrder { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;smartcard mode='passthrough' type='spicevmc'&gt; (or host / host-certificates): a CCID reader on USB.</summary>
public sealed class SmartcardDef
{
    public string Mode { get; set; } = "passthrough";
    public string? Type { get; set; }
    public List<string> Certificates { get; set; } = [];
    public string? Database { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;hub type='usb'&gt;: a USB hub for more ports (libvirt adds one when a controller runs out).</summary>
public sealed class HubDef
{
    public string Type { get; set; } = "usb";
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;tpm model='tpm-tis|tpm-crb'&gt;&lt;backend type='emulator|passthrough' version='2.0'/&gt;: a TPM, emulated by swtpm.</summary>
public sealed class TpmDef
{
    public string Model { get; set; } = "tpm-tis";
    public string BackendType { get; set; } = "emulator";
    public string? Version { get; set; }               // 1.2 | 2.0
    public string? PersistentState { get; set; }       // yes | no
    public string? DevicePath { get; set; }            // passthrough: /dev/tpm0
    public string? EncryptionSecret { get; set; }
    public List<string> ActivePcrBanks { get; set; } = [];
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;watchdog model='i6300esb|ib700|itco' action='reset|shutdown|poweroff|pause|none|dump|inject-nmi'/&gt;.</summary>
public sealed class WatchdogDef
{
    public string Model { get; set; } = "i6300esb";
    public string? Action { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;hostdev mode='subsystem' type='pci|usb'&gt;: a host device given to the guest (vfio-pci, or usb-host).</summary>
public sealed class HostdevDef
{
    public string Mode { get; set; } = "subsystem";
    public string Type { get; set; } = "pci";
    public string? Managed { get; set; }
    /// <summary>pci: the host address; usb: bus/device.</summary>
    public AddressDef? SourceAddress { get; set; }
    public string? Vendor { get; set; }                // usb: 0x1234
    public string? Product { get; set; }
    public string? StartupPolicy { get; set; }
    public string? DriverName { get; set; }            // pci: vfio
    public string? RomBar { get; set; }
    public string? RomFile { get; set; }
    public int? BootOrder { get; set; }
    public bool ReadOnly { get; set; }
    public bool Shareable { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;vsock model='virtio'&gt;&lt;cid auto='yes|no' address='N'/&gt;: host-guest sockets without a network.</summary>
public sealed class VsockDef
{
    public string? Model { get; set; }
    public string? CidAuto { get; set; }
    public uint? CidAddress { get; set; }
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }
}

/// <summary>&lt;iommu model='intel|virtio'&gt;&lt;driver intremap caching_mode eim iotlb aw_bits/&gt;.</summary>
public sealed class IommuDef
{
    public string Model { get; set; } = "intel";
    public List<KeyValuePair<string, string>> Driver { get; set; } = [];
    public string? Alias { get; set; }
    public AddressDef? Address { get; set; }

    public string? Option(string name) => Driver.FirstOrDefault(k => k.Key == name).Value;
}
