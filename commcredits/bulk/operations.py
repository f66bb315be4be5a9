"""The GraphQL operations the bulk commands send (the same text over HTTP and in-process)."""

SKUS = """
query BulkSkus {
  skus { skuId skuPartNumber servicePlans { servicePlanId servicePlanName } }
}
"""

SET_USER_LICENSES = """
mutation BulkSetUserLicenses(
  $upns: [String!]!, $add: [AssignedLicenseInput!], $remove: [ID!], $whatIf: Boolean!,
  $changes: [LicenseChangeInput!], $indexes: [Int], $prior: [SeatChangeInput!]
) {
  setUserLicenses(
    userPrincipalNames: $upns, addLicenses: $add, removeLicenses: $remove, whatIf: $whatIf,
    changes: $changes, changeIndexes: $indexes, priorSeatChanges: $prior
  ) {
    runs { start count status changes { skuPartNumber action } userErrors { code message } }
    seatChanges @include(if: $whatIf) { skuId units }
    userErrors { field code message }
  }
}
"""

IMPORT_USERS = """
mutation BulkImportUsers($users: [ImportUserInput!]!, $whatIf: Boolean!, $create: Boolean!) {
  importUsers(users: $users, whatIf: $whatIf, createMissing: $create) {
    results { status action usageLocation userErrors { code message } }
    userErrors { field code message }
  }
}
"""

IMPORT_USER_COLUMNS = """
mutation BulkImportUserColumns(
  $columns: ImportUserColumnsInput!, $whatIf: Boolean!, $create: Boolean!, $locations: Boolean!
) {
  importUserColumns(columns: $columns, whatIf: $whatIf, createMissing: $create) {
    actions usageLocations @include(if: $locations)
    failures { index userErrors { code message } }
    userErrors { field code message }
  }
}
"""

SET_USAGE_LOCATION = """
mutation BulkSetUsageLocation($upns: [String!]!, $location: String!, $whatIf: Boolean!) {
  setUsageLocation(userPrincipalNames: $upns, usageLocation: $location, whatIf: $whatIf) {
    results { status action usageLocation userErrors { code message } }
    userErrors { field code message }
  }
}
"""

USERS_PAGE = """
query BulkUsers($first: Int!, $after: String, $filter: UserFilter) {
  users(first: $first, after: $after, filter: $filter) {
    pageInfo { hasNextPage endCursor }
    nodes {
      userPrincipalName displayName givenName surname jobTitle department officeLocation
      businessPhones mobilePhone faxNumber otherMails streetAddress city state postalCode
      country usageLocation accountEnabled createdAt
      assignedLicenses { skuPartNumber disabledPlans }
    }
  }
}
"""

SUBSCRIBED_SKUS = """
query BulkSubscribedSkus {
  subscribedSkus {
    skuId skuPartNumber capabilityStatus consumedUnits availableUnits
    prepaidUnits { enabled suspended warning lockedOut }
  }
}
"""

PURCHASE_CREDITS = """
mutation BulkPurchaseCredits($amount: Decimal!, $key: String!, $whatIf: Boolean) {
  purchaseCredits(amount: $amount, idempotencyKey: $key, whatIf: $whatIf) {
    invoice { number amount { amount currency } status }
    balance { remaining { amount currency } }
    replayed
    userErrors { field code message }
  }
}
"""

CONFIGURE_AUTO_RECHARGE = """
mutation BulkConfigureAutoRecharge(
  $enabled: Boolean!, $amount: Decimal, $trigger: Decimal, $perDay: Int, $whatIf: Boolean
) {
  configureAutoRecharge(
    enabled: $enabled, rechargeAmount: $amount, triggerBalance: $trigger,
    maxRechargesPerDay: $perDay, whatIf: $whatIf
  ) {
    autoRecharge {
      enabled topUp { amount currency } threshold { amount currency } maxRechargesPerDay
    }
    userErrors { field code message }
  }
}
"""

# Each user's result (its status and, adding, the group states it is, or with -WhatIf would
# be, left in: a removed member keeps none of the group's); -WhatIf also the batch's seats,
# for the next batch's priorSeatChanges.
_MEMBERS_ANSWER = """
    results {
      index status
      licenseAssignmentStates @include(if: $states) {
        skuPartNumber assignedByGroup state error
      }
    }
    seatChanges @include(if: $whatIf) { skuId units }
    userErrors { field code message }
"""
ADD_GROUP_MEMBERS = f"""
mutation BulkAddGroupMembers(
  $groupId: ID!, $userIds: [ID!]!, $whatIf: Boolean!, $prior: [SeatChangeInput!],
  $states: Boolean!
) {{
  addGroupMembers(
    groupId: $groupId, userIds: $userIds, whatIf: $whatIf, priorSeatChanges: $prior
  ) {{{_MEMBERS_ANSWER}  }}
}}
"""
REMOVE_GROUP_MEMBERS = f"""
mutation BulkRemoveGroupMembers(
  $groupId: ID!, $userIds: [ID!]!, $whatIf: Boolean!, $prior: [SeatChangeInput!],
  $states: Boolean!
) {{
  removeGroupMembers(
    groupId: $groupId, userIds: $userIds, whatIf: $whatIf, priorSeatChanges: $prior
  ) {{{_MEMBERS_ANSWER}  }}
}}
"""
