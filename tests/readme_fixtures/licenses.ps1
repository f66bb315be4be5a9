# Microsoft's "Assign Microsoft 365 licenses with PowerShell", as an admin writes it.
Connect-MgGraph -Scopes User.ReadWrite.All, Organization.Read.All
$sku = Get-MgSubscribedSku -All | Where SkuPartNumber -eq 'MCOPSTNC'
$users = Import-Csv users.csv
foreach ($u in $users) {
    Set-MgUserLicense -UserId $u.UserPrincipalName -AddLicenses @{SkuId = $sku.SkuId} -RemoveLicenses @()
}
Update-MgUser -UserId grady.archie@contoso.example -UsageLocation DE
