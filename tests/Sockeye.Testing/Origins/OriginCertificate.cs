using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sockeye.Testing.Origins;

/// <summary>
/// The HTTPS origin's self-signed certificate: made in process, valid for a day either side of now, for
/// <c>localhost</c>, 127.0.0.1, ::1 and the address the origin listens on; also written as PEM, for curl's
/// <c>--cacert</c> and git's <c>GIT_SSL_CAINFO</c>.
/// </summary>
internal sealed class OriginCertificate : IDisposable
{
    private OriginCertificate(X509Certificate2 certificate, string pemPath)
    {
        Certificate = certificate;
        PemPath = pemPath;
    }

    /// <summary>With its private key, for Kestrel.</summary>
    public X509Certificate2 Certificate { get; }

    public string PemPath { get; }

    public static OriginCertificate Create(IPAddress address, string pemPath)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        names.AddIpAddress(IPAddress.IPv6Loopback);
        if (!address.Equals(IPAddress.Loopback) && !address.Equals(IPAddress.IPv6Loopback))
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));

        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 created = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(1));
        File.WriteAllText(pemPath, created.ExportCertificatePem() + "\n");

        // The key of CreateSelfSigned is ephemeral; a round trip through PKCS#12 gives one TLS can always use.
        X509Certificate2 loaded = X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), password: null);
        return new OriginCertificate(loaded, pemPath);
    }

    /// <summary>Whether <paramref name="certificate"/> is this one.</summary>
    public bool Matches(X509Certificate? certificate) =>
        certificate is not null && certificate.GetRawCertData().AsSpan().SequenceEqual(Certificate.RawDataMemory.Span);

    /// <summary>
    /// Accepts this certificate as if it were signed by a trusted root, and nothing else: a wrong host name, or any
    /// other certificate, still fails.
    /// </summary>
    public bool Validate(X509Certificate? certificate, SslPolicyErrors errors) =>
        errors == SslPolicyErrors.None || (errors == SslPolicyErrors.RemoteCertificateChainErrors && Matches(certificate));

    public void Dispose() => Certificate.Dispose();
}
